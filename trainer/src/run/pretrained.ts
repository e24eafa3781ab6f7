// Loads spec.model.pretrained: a Gantry checkpoint (a checkpoint root, whose newest whole step is used, or one
// step-XXXXXXXX directory), or a Hugging Face GPT-2 model.safetensors (a file, or a directory holding one) mapped to
// Gantry's names. The weights come back in paramLayout order with the content hash a PEFT checkpoint records.
import type { JobSpec } from "@gantry/crds";
import { readCheckpointAt } from "../checkpoint/checkpoint-at.js";
import { openCheckpointStore, type CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import type { NamedArray } from "../checkpoint/named-array.js";
import { decodeSafetensors, toNamedArray } from "../checkpoint/safetensors.js";
import { checkGpt2Expressible, HfImportError, importHfGpt2 } from "../interop/hf-gpt2.js";
import type { ModelConfig } from "../model/model-config.js";
import { matchNamedArrays } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { weightsHash } from "../peft/base-hash.js";
import { assertPlainCheckpoint } from "../peft/peft-manifest.js";
import { ConfigError } from "../runtime/run-config.js";

export type PretrainedRef = NonNullable<JobSpec["model"]["pretrained"]>;

export interface PretrainedWeights {
  /** Every parameter of the model, in paramLayout order, float32. */
  weights: NamedArray[];
  ref: PretrainedRef;
  /** weightsHash(weights). */
  sha256: string;
}

/** model.pretrained cannot be loaded as this model: missing, of another shape, or not expressible. */
export class PretrainedLoadError extends ConfigError {
  constructor(
    readonly uri: string,
    readonly reason: string,
  ) {
    super(`model.pretrained ${uri}: ${reason}`);
    this.name = "PretrainedLoadError";
  }
}

/** Splits `scheme://…/parent/last` into its parent URI and last segment. */
function splitLast(uri: string): { parent: string; last: string } {
  const trimmed = uri.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  return { parent: trimmed.slice(0, at), last: trimmed.slice(at + 1) };
}

async function loadGantry(ref: PretrainedRef, s3: CheckpointS3Client | undefined): Promise<NamedArray[]> {
  const found = await readCheckpointAt(ref.uri, s3);
  if (found === undefined) throw new PretrainedLoadError(ref.uri, "holds no whole checkpoint");
  assertPlainCheckpoint(found.loaded.manifest, found.location);
  return found.loaded.weights;
}

async function loadHf(ref: PretrainedRef, config: ModelConfig, s3: CheckpointS3Client | undefined): Promise<NamedArray[]> {
  const { parent, last } = splitLast(ref.uri);
  const [dir, file] = last.endsWith(".safetensors") ? [parent, last] : [ref.uri, "model.safetensors"];
  const bytes = await openCheckpointStore(dir, s3).read(file);
  if (bytes === undefined) throw new PretrainedLoadError(ref.uri, `${file} does not exist`);
  const tensors = decodeSafetensors(bytes, ref.uri).tensors.map(toNamedArray);
  return hfGpt2ToGantry(tensors, config, ref.uri);
}

/**
 * A Hugging Face GPT-2 state dict (GPT2LMHeadModel or GPT2Model) as this job's parameters, in paramLayout order:
 * interop/hf-gpt2.ts's import fitted to spec.model (the position table cut to its context), with errors that name
 * model.pretrained.
 */
export function hfGpt2ToGantry(tensors: readonly NamedArray[], config: ModelConfig, source = "model.safetensors"): NamedArray[] {
  try {
    checkGpt2Expressible({ ...config, mlpRatio: config.hidden / config.dModel });
  } catch (err) {
    throw new PretrainedLoadError(source, `is a GPT-2 model, but spec.model is not: ${(err as Error).message}`);
  }
  try {
    return importHfGpt2(tensors, { config });
  } catch (err) {
    if (err instanceof HfImportError) throw new PretrainedLoadError(source, err.message);
    throw err;
  }
}

/** The pretrained weights of `ref` as this model's parameters, checked by name and shape, with their hash. */
export async function loadPretrained(ref: PretrainedRef, config: ModelConfig, s3?: CheckpointS3Client): Promise<PretrainedWeights> {
  if (ref.uri.startsWith("s3://") && s3 === undefined) throw new PretrainedLoadError(ref.uri, "is on S3, but this run has no S3 client (S3_ENDPOINT and credentials from spec.data.s3.credentialsSecret)");
  const raw = ref.format === "hf-safetensors" ? await loadHf(ref, config, s3) : await loadGantry(ref, s3);
  let weights: NamedArray[];
  try {
    weights = matchNamedArrays(paramLayout(config), raw);
  } catch (err) {
    throw new PretrainedLoadError(ref.uri, `does not fit spec.model: ${(err as Error).message}`);
  }
  return { weights, ref, sha256: weightsHash(weights) };
}
