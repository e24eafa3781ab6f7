// A model rebuilt from a Gantry checkpoint alone: its shape and tokenizer from the manifest's `extra`, its weights
// from model.safetensors (a factorized checkpoint's U·V pairs multiplied out). A PEFT checkpoint (adapters only) is
// refused with the merge command that makes it whole.
import type { LoadedCheckpoint } from "../checkpoint/checkpoint-reader.js";
import { CheckpointReader } from "../checkpoint/checkpoint-reader.js";
import type { CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import { openCheckpointStore } from "../checkpoint/checkpoint-store.js";
import type { CheckpointManifest } from "../checkpoint/manifest.js";
import type { NamedArray } from "../checkpoint/named-array.js";
import type { TokenizerName } from "@gantry/crds";
import { planOfManifest } from "../factorize/factorized-checkpoint.js";
import { expandFactors } from "../factorize/factorize-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { assertPlainCheckpoint } from "../peft/peft-manifest.js";
import { checkTokenizer, matchConfig, ModelLoadError, validConfig } from "./model-checks.js";

export interface CheckpointModel {
  /** The checkpoint root it came from, and the step directory. */
  uri: string;
  dir: string;
  step: number;
  config: ModelConfig;
  tokenizer: TokenizerName;
  /** Every parameter, in paramLayout(config) order (dense), float32. */
  arrays: NamedArray[];
  manifest: CheckpointManifest;
}

export interface CheckpointModelOptions {
  /** Overrides the tokenizer the manifest names. */
  tokenizer?: string;
}

/** Shape, tokenizer and weights of a loaded checkpoint; throws ModelLoadError (or PeftCheckpointError) naming what is wrong. */
export function modelOfCheckpoint(uri: string, loaded: LoadedCheckpoint, opts: CheckpointModelOptions = {}): CheckpointModel {
  const where = `${uri.replace(/\/$/, "")}/${loaded.dir}`;
  assertPlainCheckpoint(loaded.manifest, where);
  const extra = loaded.manifest.extra ?? {};
  const shape = extra["model"];
  if (typeof shape !== "string") throw new ModelLoadError(where, "the manifest records no model shape (extra.model; written by an older trainer)");
  let raw: unknown;
  try {
    raw = JSON.parse(shape);
  } catch (err) {
    throw new ModelLoadError(where, `extra.model is not JSON: ${(err as Error).message}`);
  }
  const config = validConfig(where, raw);
  const tokenizer = checkTokenizer(where, opts.tokenizer ?? extra["tokenizer"] ?? "gpt2");
  let plan;
  try {
    plan = planOfManifest(loaded.manifest);
  } catch (err) {
    throw new ModelLoadError(where, `its factorization record is invalid: ${(err as Error).message}`);
  }
  const arrays = plan === undefined ? matchConfig(where, config, loaded.weights) : expandFactors(config, loaded.weights, plan);
  return { uri, dir: loaded.dir, step: loaded.step, config, tokenizer, arrays, manifest: loaded.manifest };
}

/** The newest whole checkpoint under `uri` (file:///path or s3://bucket/prefix) as a model. */
export async function loadCheckpointModel(uri: string, s3?: CheckpointS3Client, opts: CheckpointModelOptions = {}): Promise<CheckpointModel> {
  const latest = await new CheckpointReader(openCheckpointStore(uri, s3)).latest();
  if (latest === undefined) throw new ModelLoadError(uri, "no whole checkpoint there");
  return modelOfCheckpoint(uri, latest, opts);
}
