// spec.distillation applied to a job's training setup (run/objective-for-spec.ts): the student is the model the job
// would otherwise train (from scratch or from model.pretrained), its objective becomes α·CE + (1−α)·T²·KL against
// the teacher named by URI, and every checkpoint records which teacher and weights it was distilled with.
import type { JobSpec } from "@gantry/crds";
import type { CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import type { TrainingSetup } from "../run/objective-for-spec.js";
import { ConfigError } from "../runtime/run-config.js";
import type { TrainConfig } from "../train/train-config.js";
import { distillationObjective, fullModelStudent } from "./distill-objective.js";
import { loadTeacher, type TeacherRef } from "./load-teacher.js";
import type { Teacher } from "./teacher.js";

/** The checkpoint `extra` key that records the distillation (teacher URI and format, alpha, temperature). */
export const DISTILLATION_KEY = "distillation";

export interface DistillSetupDeps {
  s3?: CheckpointS3Client;
  /** Replaces loadTeacher (tests). */
  load?: (ref: TeacherRef) => Promise<Teacher>;
}

/** `setup` unchanged without spec.distillation; else the same setup distilling from the teacher. */
export async function withDistillation(setup: TrainingSetup, spec: Partial<Pick<JobSpec, "distillation" | "data">>, train: TrainConfig, deps: DistillSetupDeps = {}): Promise<TrainingSetup> {
  const d = spec.distillation;
  if (d === undefined) return setup;
  let teacher: Teacher | undefined;
  try {
    if (setup.plan.kind === "peft") throw new ConfigError("distillation into a PEFT student is not supported yet: drop spec.peft (the student trains all its weights) or spec.distillation");
    teacher = await (deps.load ?? ((ref) => loadTeacher(ref, deps.s3)))(d.teacher);
    const frozen = teacher;
    const student = fullModelStudent(train.model, spec.data?.tokenizer);
    const objective = distillationObjective(student, teacher, { alpha: d.alpha, temperature: d.temperature });
    return {
      ...setup,
      objective,
      checkpointExtra: { ...setup.checkpointExtra, [DISTILLATION_KEY]: JSON.stringify({ teacher: d.teacher, alpha: d.alpha, temperature: d.temperature }) },
      dispose: () => {
        setup.dispose();
        frozen.dispose();
      },
    };
  } catch (err) {
    teacher?.dispose();
    setup.dispose();
    throw err;
  }
}
