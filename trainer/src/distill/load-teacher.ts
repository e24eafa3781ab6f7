// The teacher a job names in spec.distillation.teacher, loaded by URI (file:/// or s3://) like a pretrained model.
import type { JobSpec } from "@gantry/crds";
import type { CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import type { ModelConfig } from "../model/model-config.js";
import { ConfigError } from "../runtime/run-config.js";
import { loadCheckpointModel } from "./checkpoint-model.js";
import { distillationObjective, fullModelStudent, type DistillationObjective } from "./distill-objective.js";
import { teacherFromArrays, type Teacher } from "./teacher.js";

export type TeacherRef = NonNullable<JobSpec["distillation"]>["teacher"];

/** The teacher's checkpoint is of a format this build cannot load as a teacher. */
export class TeacherFormatError extends ConfigError {
  constructor(
    readonly uri: string,
    readonly format: string,
  ) {
    super(`distillation.teacher ${uri}: format ${format} cannot be loaded as a teacher yet; export it as a Gantry checkpoint`);
    this.name = "TeacherFormatError";
  }
}

/** The newest whole checkpoint under ref.uri, frozen. */
export async function loadTeacher(ref: TeacherRef, s3?: CheckpointS3Client): Promise<Teacher> {
  if (ref.format !== "gantry") throw new TeacherFormatError(ref.uri, ref.format);
  const model = await loadCheckpointModel(ref.uri, s3);
  return teacherFromArrays(model.config, model.weights, model.tokenizer);
}

export interface SpecDistillation {
  objective: DistillationObjective;
  teacher: Teacher;
}

/**
 * The distillation objective of a job whose spec has `distillation`: the student is the whole model of `student`,
 * trained on spec.data.tokenizer's ids; the caller disposes the teacher after the run.
 */
export async function distillationForSpec(spec: Pick<JobSpec, "distillation" | "data">, student: ModelConfig, s3?: CheckpointS3Client): Promise<SpecDistillation | undefined> {
  const d = spec.distillation;
  if (d === undefined) return undefined;
  const teacher = await loadTeacher(d.teacher, s3);
  try {
    const objective = distillationObjective(fullModelStudent(student, spec.data.tokenizer), teacher, { alpha: d.alpha, temperature: d.temperature });
    return { objective, teacher };
  } catch (err) {
    teacher.dispose();
    throw err;
  }
}
