// The teacher a job names in spec.distillation.teacher, loaded by URI (file:/// or s3://) like a pretrained model:
// a Gantry checkpoint (its shape and tokenizer from the manifest), or a Hugging Face GPT-2 model.safetensors whose
// shape comes from the config.json beside it (the teacher's size is its own, not the student's).
import type { JobSpec } from "@gantry/crds";
import { openCheckpointStore, type CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import { decodeSafetensors, toNamedArray } from "../checkpoint/safetensors.js";
import { HfConfigError, HfImportError, hfGpt2ModelConfigFromJson, importHfGpt2 } from "../interop/hf-gpt2.js";
import type { ModelConfig } from "../model/model-config.js";
import { ConfigError } from "../runtime/run-config.js";
import { loadCheckpointModel } from "../model-source/checkpoint-model.js";
import { teacherFromArrays, type Teacher } from "./teacher.js";

export type TeacherRef = NonNullable<JobSpec["distillation"]>["teacher"];

/** The teacher cannot be loaded: missing files, or a config.json that is not GPT-2's. */
export class TeacherLoadError extends ConfigError {
  constructor(
    readonly uri: string,
    readonly reason: string,
  ) {
    super(`distillation.teacher ${uri}: ${reason}`);
    this.name = "TeacherLoadError";
  }
}

/** A Hugging Face GPT-2 config.json as the teacher's model shape (interop/hf-gpt2.ts), errors naming the teacher. */
export function configFromHfGpt2(json: unknown, uri: string): ModelConfig {
  try {
    return hfGpt2ModelConfigFromJson(json);
  } catch (err) {
    if (err instanceof HfConfigError) throw new TeacherLoadError(uri, err.message);
    throw err;
  }
}

async function loadHfTeacher(ref: TeacherRef, s3: CheckpointS3Client | undefined): Promise<Teacher> {
  const trimmed = ref.uri.replace(/\/+$/, "");
  const [dir, file] = trimmed.endsWith(".safetensors") ? [trimmed.slice(0, trimmed.lastIndexOf("/")), trimmed.slice(trimmed.lastIndexOf("/") + 1)] : [trimmed, "model.safetensors"];
  const store = openCheckpointStore(dir, s3);
  const [configBytes, modelBytes] = await Promise.all([store.read("config.json"), store.read(file)]);
  if (configBytes === undefined) throw new TeacherLoadError(ref.uri, `no config.json in ${dir}: the teacher's shape comes from it`);
  if (modelBytes === undefined) throw new TeacherLoadError(ref.uri, `${file} does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (err) {
    throw new TeacherLoadError(ref.uri, `config.json is not JSON: ${(err as Error).message}`);
  }
  const config = configFromHfGpt2(json, ref.uri);
  let weights;
  try {
    weights = importHfGpt2(decodeSafetensors(modelBytes, ref.uri).tensors.map(toNamedArray), { config });
  } catch (err) {
    if (err instanceof HfImportError) throw new TeacherLoadError(ref.uri, err.message);
    throw err;
  }
  // GPT-2's tokenizer; a Hugging Face GPT-2 vocabulary is r50k (gantry's "gpt2").
  return teacherFromArrays(config, weights, "gpt2");
}

/** The teacher of `ref`, frozen. */
export async function loadTeacher(ref: TeacherRef, s3?: CheckpointS3Client): Promise<Teacher> {
  // A permanent error (exit 2), not a retry: the run was configured without S3 (its checkpoints and data are local).
  if (ref.uri.startsWith("s3://") && s3 === undefined) throw new TeacherLoadError(ref.uri, "is on S3, but this run has no S3 client (set S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or keep the checkpoints on S3 too)");
  if (ref.format === "hf-safetensors") return loadHfTeacher(ref, s3);
  const model = await loadCheckpointModel(ref.uri, s3);
  return teacherFromArrays(model.config, model.arrays, model.tokenizer);
}
