// One loader for every command (generate, eval, compress, serve, factorize, the distillation teacher): a Gantry
// checkpoint root (newest whole step; see checkpoint-model.ts), a Gantry compressed model file, or a Hugging Face
// GPT-2 model.safetensors (heads from the config.json beside it, GPT-2 tokenizer). Errors say which source and what
// is wrong.
import { readFile } from "node:fs/promises";
import type { TokenizerName } from "@gantry/crds";
import { openStore, parseSourceUri } from "@gantry/dataloader";
import type { Client } from "minio";
import type { NamedArray } from "../checkpoint/named-array.js";
import { decodeSafetensors, toNamedArray } from "../checkpoint/safetensors.js";
import { decodeCompressedModel, isCompressedModel, type CompressedModelInfo } from "../compress/compressed-model.js";
import { hfGpt2ModelConfig, importHfGpt2, looksLikeHfGpt2 } from "../interop/hf-gpt2.js";
import { structureWeights, type GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { importParams } from "../model/param-io.js";
import { loadCheckpointModel } from "./checkpoint-model.js";
import { checkTokenizer, matchConfig, ModelLoadError, validConfig } from "./model-checks.js";

export { ModelLoadError } from "./model-checks.js";

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

async function loadSafetensorsFile(uri: string, opts: { s3?: Client; tokenizer?: string }): Promise<LoadedModel> {
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

export async function loadModel(uri: string, opts: { s3?: Client; tokenizer?: string } = {}): Promise<LoadedModel> {
  if (uri.endsWith(".safetensors")) return loadSafetensorsFile(uri, opts);
  const m = await loadCheckpointModel(uri, opts.s3, opts.tokenizer === undefined ? {} : { tokenizer: opts.tokenizer });
  return { config: m.config, tokenizer: m.tokenizer, arrays: m.arrays, kind: "checkpoint", description: `${uri.replace(/\/$/, "")}/${m.dir} (step ${m.step})` };
}

/** Tensors of a loaded model, structured for the forward. The caller disposes them (tf.dispose(flat)). */
export function modelWeights(m: Pick<LoadedModel, "config" | "arrays">): { weights: GptWeights; flat: ReturnType<typeof importParams> } {
  const flat = importParams(m.config, m.arrays);
  return { weights: structureWeights(m.config, flat), flat };
}
