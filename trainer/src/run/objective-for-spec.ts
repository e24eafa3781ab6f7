// The one place that decides what a job trains: which Objective, where its first trainable values come from, what
// its checkpoints record beyond the weights, and what a resume must check. The decision is pure (planObjective);
// objectiveForSpec performs it (loading the pretrained model when there is one).
import type { JobSpec } from "@gantry/crds";
import type { CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import type { CheckpointManifest } from "../checkpoint/manifest.js";
import type { NamedArray } from "../checkpoint/named-array.js";
import { withDistillation } from "../distill/distill-setup.js";
import { initParams } from "../model/init-params.js";
import { parameterCount } from "../model/param-layout.js";
import { peftConfigFromSpec, type PeftConfig } from "../peft/peft-config.js";
import { peftParameterCount } from "../peft/peft-layout.js";
import { assertPlainCheckpoint, peftManifestExtra, readPeftManifest, verifyBase, PeftCheckpointError } from "../peft/peft-manifest.js";
import { peftObjective } from "../peft/peft-objective.js";
import { ConfigError } from "../runtime/run-config.js";
import { fullModelObjective, type Objective } from "../train/objective.js";
import type { TrainConfig } from "../train/train-config.js";
import { loadPretrained, type PretrainedRef, type PretrainedWeights } from "./pretrained.js";

/** What a job trains, decided from its spec alone. */
export type ObjectivePlan =
  /** Every parameter, from a seeded initialisation. */
  | { kind: "full" }
  /** Every parameter, starting from a pretrained model (full fine-tuning). */
  | { kind: "full-pretrained"; pretrained: PretrainedRef }
  /** Adapters on a frozen pretrained base. */
  | { kind: "peft"; peft: PeftConfig; pretrained: PretrainedRef };

export function planObjective(spec: Pick<JobSpec, "model" | "peft">): ObjectivePlan {
  const peft = peftConfigFromSpec(spec);
  const pretrained = spec.model.pretrained;
  if (peft !== undefined) {
    // parseJob's rule peft-needs-pretrained already refuses this; a spec built by hand gets the same answer.
    if (pretrained === undefined) throw new ConfigError("peft needs model.pretrained: adapters are trained on top of a pretrained checkpoint");
    return { kind: "peft", peft, pretrained };
  }
  return pretrained === undefined ? { kind: "full" } : { kind: "full-pretrained", pretrained };
}

export interface TrainingSetup {
  plan: ObjectivePlan;
  objective: Objective;
  /** Trainable values of a fresh start (no checkpoint of this job yet). */
  initial(): NamedArray[];
  /** Entries every checkpoint of this job adds to its manifest's `extra` (a PEFT job: its method and base). */
  checkpointExtra: Record<string, string>;
  /** Throws a ConfigError when a checkpoint found at `location` is not one this setup can resume. */
  checkResume(manifest: Pick<CheckpointManifest, "extra">, location: string): void;
  /** Trainable parameters, and all the model's parameters (trainable or frozen), for the log. */
  counts: { trainable: number; model: number };
  /** Frees what the objective holds outside the Trainer (a frozen base). */
  dispose(): void;
}

export interface SetupDeps {
  s3?: CheckpointS3Client;
  /** Replaces loadPretrained (tests). */
  load?: (ref: PretrainedRef, train: TrainConfig) => Promise<PretrainedWeights>;
}

export async function objectiveForSpec(spec: Pick<JobSpec, "model" | "peft"> & Partial<Pick<JobSpec, "distillation" | "data">>, train: TrainConfig, deps: SetupDeps = {}): Promise<TrainingSetup> {
  // spec.distillation swaps the student's loss for α·CE + (1−α)·T²·KL against the teacher (distill/distill-setup.ts).
  return withDistillation(await studentSetup(spec, train, deps), spec, train, deps.s3 === undefined ? {} : { s3: deps.s3 });
}

async function studentSetup(spec: Pick<JobSpec, "model" | "peft">, train: TrainConfig, deps: SetupDeps): Promise<TrainingSetup> {
  const plan = planObjective(spec);
  const model = parameterCount(train.model);
  const load = deps.load ?? ((ref: PretrainedRef, t: TrainConfig) => loadPretrained(ref, t.model, deps.s3));
  if (plan.kind === "full") {
    return {
      plan,
      objective: fullModelObjective(train.model),
      initial: () => initParams(train.model, train.seed),
      checkpointExtra: {},
      checkResume: (manifest, location) => assertPlainCheckpoint(manifest, location),
      counts: { trainable: model, model },
      dispose: () => undefined,
    };
  }
  const base = await load(plan.pretrained, train);
  if (plan.kind === "full-pretrained") {
    return {
      plan,
      objective: fullModelObjective(train.model),
      initial: () => base.weights,
      checkpointExtra: {},
      checkResume: (manifest, location) => assertPlainCheckpoint(manifest, location),
      counts: { trainable: model, model },
      dispose: () => undefined,
    };
  }
  const objective = peftObjective(train.model, plan.peft, base.weights);
  const baseRef = { uri: plan.pretrained.uri, format: plan.pretrained.format, sha256: base.sha256 };
  return {
    plan,
    objective,
    initial: () => objective.init(train.seed),
    checkpointExtra: peftManifestExtra({ peft: plan.peft, base: baseRef }),
    checkResume: (manifest, location) => {
      const info = readPeftManifest(manifest, location);
      if (info === undefined) throw new PeftCheckpointError(location, "is a whole-model checkpoint, but this job trains adapters (spec.peft)");
      if (JSON.stringify(info.peft) !== JSON.stringify(plan.peft)) throw new PeftCheckpointError(location, `holds ${JSON.stringify(info.peft)}, but spec.peft now asks for ${JSON.stringify(plan.peft)}`);
      verifyBase(info, base.sha256, location);
    },
    counts: { trainable: peftParameterCount(train.model, plan.peft), model },
    dispose: () => objective.dispose(),
  };
}
