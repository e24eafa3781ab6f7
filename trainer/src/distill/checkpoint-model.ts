// A model rebuilt from a Gantry checkpoint alone: its shape and tokenizer from the manifest's `extra`, its weights
// from model.safetensors (a factorized checkpoint's U·V pairs multiplied out). What a teacher, gantry-serve and
// gantry-factorize start from.
import { TOKENIZER_NAMES, type TokenizerName } from "@gantry/crds";
import type { LoadedCheckpoint } from "../checkpoint/checkpoint-reader.js";
import { CheckpointReader } from "../checkpoint/checkpoint-reader.js";
import type { CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import { openCheckpointStore } from "../checkpoint/checkpoint-store.js";
import type { NamedArray } from "../checkpoint/named-array.js";
import type { CheckpointManifest } from "../checkpoint/manifest.js";
import { planOfManifest } from "../factorize/factorized-checkpoint.js";
import { expandFactors } from "../factorize/factorize-weights.js";
import { validateModelConfig, type ModelConfig } from "../model/model-config.js";
import { matchNamedArrays } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { ConfigError } from "../runtime/run-config.js";

export interface CheckpointModel {
  /** The checkpoint root it came from, and the step directory. */
  uri: string;
  dir: string;
  step: number;
  config: ModelConfig;
  tokenizer: TokenizerName;
  /** Every parameter, in paramLayout(config) order (dense). */
  weights: NamedArray[];
  manifest: CheckpointManifest;
}

/** The checkpoint root holds no usable model: none committed, or one without the shape it needs. */
export class CheckpointModelError extends ConfigError {
  constructor(
    readonly uri: string,
    readonly reason: string,
  ) {
    super(`${uri}: ${reason}`);
    this.name = "CheckpointModelError";
  }
}

/** Shape, tokenizer and weights of a loaded checkpoint; throws CheckpointModelError naming what is missing. */
export function modelOfCheckpoint(uri: string, loaded: LoadedCheckpoint): CheckpointModel {
  const where = `${uri.replace(/\/$/, "")}/${loaded.dir}`;
  const extra = loaded.manifest.extra ?? {};
  const shape = extra["model"];
  if (typeof shape !== "string") throw new CheckpointModelError(where, "the manifest records no model shape (extra.model; written by an older trainer)");
  let config: ModelConfig;
  try {
    config = validateModelConfig(JSON.parse(shape) as ModelConfig);
  } catch (err) {
    throw new CheckpointModelError(where, `extra.model is not a model shape: ${(err as Error).message}`);
  }
  const named = String(extra["tokenizer"] ?? "gpt2");
  const tokenizer = TOKENIZER_NAMES.find((t) => t === named);
  if (tokenizer === undefined) throw new CheckpointModelError(where, `names an unknown tokenizer ${named}`);
  let plan;
  try {
    plan = planOfManifest(loaded.manifest);
  } catch (err) {
    throw new CheckpointModelError(where, `its factorization record is invalid: ${(err as Error).message}`);
  }
  const weights = plan === undefined ? matchNamedArrays(paramLayout(config), loaded.weights) : expandFactors(config, loaded.weights, plan);
  return { uri, dir: loaded.dir, step: loaded.step, config, tokenizer, weights, manifest: loaded.manifest };
}

/** The newest whole checkpoint under `uri` (file:///path or s3://bucket/prefix) as a model. */
export async function loadCheckpointModel(uri: string, s3?: CheckpointS3Client): Promise<CheckpointModel> {
  const latest = await new CheckpointReader(openCheckpointStore(uri, s3)).latest();
  if (latest === undefined) throw new CheckpointModelError(uri, "no whole checkpoint there");
  return modelOfCheckpoint(uri, latest);
}
