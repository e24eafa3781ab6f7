// One loader for every command (generate, eval, compress): a Gantry checkpoint root (newest whole step, shape and
// tokenizer from the manifest's extra), a Gantry compressed model file, or a Hugging Face GPT-2 model.safetensors
// (heads from the config.json beside it, GPT-2 tokenizer). Errors say which source and what is wrong.
import { readFile } from "node:fs/promises";
import { TOKENIZER_NAMES, type TokenizerName } from "@gantry/crds";
import { openStore, parseSourceUri } from "@gantry/dataloader";
import type { Client } from "minio";
import { CheckpointReader } from "../checkpoint/checkpoint-reader.js";
import { openCheckpointStore } from "../checkpoint/checkpoint-store.js";
import type { NamedArray } from "../checkpoint/named-array.js";
import { decodeSafetensors, toNamedArray } from "../checkpoint/safetensors.js";
import { decodeCompressedModel, isCompressedModel, type CompressedModelInfo } from "../compress/compressed-model.js";
import { structureWeights, type GptWeights } from "../model/gpt-weights.js";
import { validateModelConfig, type ModelConfig } from "../model/model-config.js";
import { importParams, matchNamedArrays, ParamImportError } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { hfGpt2ModelConfig, importHfGpt2, looksLikeHfGpt2 } from "../interop/hf-gpt2.js";

export type ModelSourceKind = "checkpoint" | "compressed" | "hf-gpt2";

export interface LoadedModel {
  config: ModelConfig;
  tokenizer: TokenizerName;
  /** float32 parameters in layout order. */
  arrays: NamedArray[];
  kind: ModelSourceKind;
  /** Where it came from, for messages: the step directory or file. */
  description: string;
  compression?: CompressedModelInfo;
}

/** The source cannot be loaded as a model: no checkpoint, no shape, unknown tokenizer, tensors of another model. */
export class ModelLoadError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`${source}: ${reason}`);
    this.name = "ModelLoadError";
  }
}

export function checkTokenizer(source: string, name: unknown): TokenizerName {
  if (typeof name !== "string" || !(TOKENIZER_NAMES as readonly string[]).includes(name)) {
    throw new ModelLoadError(source, `unknown tokenizer ${JSON.stringify(name)}: expected one of ${TOKENIZER_NAMES.join(", ")}`);
  }
  return name as TokenizerName;
}

/** The parameters in layout order, or a ModelLoadError naming the first mismatch with the recorded shape. */
export function matchConfig(source: string, config: ModelConfig, arrays: readonly NamedArray[]): NamedArray[] {
  try {
    return matchNamedArrays(paramLayout(config), arrays);
  } catch (err) {
    if (err instanceof ParamImportError) throw new ModelLoadError(source, `the weights do not match the model config (${config.layers} layers, dModel ${config.dModel}, heads ${config.heads}, kvHeads ${config.kvHeads}, vocab ${config.vocabSize}): ${err.message}`);
    throw err;
  }
}

function validConfig(source: string, raw: unknown): ModelConfig {
  try {
    return validateModelConfig(raw as ModelConfig);
  } catch (err) {
    throw new ModelLoadError(source, `bad model shape: ${(err as Error).message}`);
  }
}

// A plain copy: Node's Buffer.slice shares its pool, and the safetensors decoder slices and takes .buffer.
const readLocal = (path: string | URL): Promise<Uint8Array | undefined> => readFile(path).then((b) => new Uint8Array(b), () => undefined);

async function readUri(uri: string, s3: Client | undefined): Promise<Uint8Array | undefined> {
  if (!uri.includes("://")) return readLocal(uri);
  const cut = uri.lastIndexOf("/");
  const dir = uri.slice(0, cut);
  const key = uri.slice(cut + 1);
  if (parseSourceUri(`${dir}/`).kind === "file") return readLocal(new URL(uri));
  return openStore(`${dir}/`, s3 === undefined ? undefined : { client: s3 }).readIfExists(key);
}

export async function loadModel(uri: string, opts: { s3?: Client; tokenizer?: string } = {}): Promise<LoadedModel> {
  if (uri.endsWith(".safetensors")) {
    const bytes = await readUri(uri, opts.s3);
    if (bytes === undefined) throw new ModelLoadError(uri, "no such file");
    const { tensors, metadata } = decodeSafetensors(bytes, uri);
    if (isCompressedModel(metadata)) {
      const m = decodeCompressedModel(bytes, uri, (c) => validConfig(uri, c));
      return { config: m.config, tokenizer: checkTokenizer(uri, opts.tokenizer ?? m.tokenizer), arrays: matchConfig(uri, m.config, m.arrays), kind: "compressed", description: uri, compression: m.info };
    }
    const named = tensors.map(toNamedArray);
    if (!looksLikeHfGpt2(named.map((t) => t.name))) throw new ModelLoadError(uri, "neither a Gantry compressed model nor Hugging Face GPT-2 weights");
    const cfgBytes = await readUri(uri.replace(/[^/]*$/, "config.json"), opts.s3);
    const hf = cfgBytes === undefined ? {} : (JSON.parse(new TextDecoder().decode(cfgBytes)) as { n_head?: number });
    if (typeof hf.n_head !== "number") throw new ModelLoadError(uri, "no config.json with n_head beside it (GPT-2's head count is not in the weights)");
    const config = validConfig(uri, hfGpt2ModelConfig(named, hf.n_head));
    return { config, tokenizer: checkTokenizer(uri, opts.tokenizer ?? "gpt2"), arrays: matchConfig(uri, config, importHfGpt2(named)), kind: "hf-gpt2", description: uri };
  }
  const latest = await new CheckpointReader(openCheckpointStore(uri, opts.s3)).latest();
  if (latest === undefined) throw new ModelLoadError(uri, "no whole checkpoint here");
  const where = `${uri.replace(/\/$/, "")}/${latest.dir}`;
  const extra = latest.manifest.extra ?? {};
  if (typeof extra["model"] !== "string") throw new ModelLoadError(where, "records no model shape (written by an older trainer)");
  const config = validConfig(where, JSON.parse(extra["model"]));
  const tokenizer = checkTokenizer(where, opts.tokenizer ?? extra["tokenizer"] ?? "gpt2");
  return { config, tokenizer, arrays: matchConfig(where, config, latest.weights), kind: "checkpoint", description: `${where} (step ${latest.step})` };
}

/** Tensors of a loaded model, structured for the forward. The caller disposes them (tf.dispose(flat)). */
export function modelWeights(m: Pick<LoadedModel, "config" | "arrays">): { weights: GptWeights; flat: ReturnType<typeof importParams> } {
  const flat = importParams(m.config, m.arrays);
  return { weights: structureWeights(m.config, flat), flat };
}
