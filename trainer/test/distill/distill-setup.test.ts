// spec.distillation through objectiveForSpec, and teachers loaded by URI: a Gantry checkpoint and a Hugging Face
// GPT-2 directory (shape from its config.json) give the same teacher.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { EXIT, parseJob } from "@gantry/crds";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { FileCheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { DISTILLATION_KEY, withDistillation } from "../../src/distill/distill-setup.js";
import type { DistillationObjective } from "../../src/distill/distill-objective.js";
import { TeacherLoadError, configFromHfGpt2, loadTeacher } from "../../src/distill/load-teacher.js";
import { exitFor } from "../../src/run/exit-code.js";
import { writeHfGpt2 } from "../../src/interop/hf-gpt2.js";
import { initParams } from "../../src/model/init-params.js";
import { objectiveForSpec, type TrainingSetup } from "../../src/run/objective-for-spec.js";
import { ConfigError } from "../../src/runtime/run-config.js";
import { trainConfigFromSpec } from "../../src/train/train-config.js";
import { TINY } from "../model/tiny.js";
import { writeModelCheckpoint } from "./model-checkpoint.js";

const root = mkdtempSync(join(tmpdir(), "gantry-distill-setup-"));
const TEACHER = { ...TINY, vocabSize: 256, layers: 2 };
const teacherWeights = initParams(TEACHER, 3);
const gantryUri = pathToFileURL(join(root, "teacher")).href;
const hfUri = pathToFileURL(join(root, "hf")).href;

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
  await writeModelCheckpoint(new FileCheckpointStore(join(root, "teacher")), TEACHER, teacherWeights, "bytes");
  await writeHfGpt2(new FileCheckpointStore(join(root, "hf")), teacherWeights, { ...TEACHER, mlpRatio: TEACHER.hidden / TEACHER.dModel });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function jobSpec(distillation: Record<string, unknown>) {
  const r = parseJob({
    apiVersion: "gantry.dev/v1alpha1",
    kind: "LLMTrainingJob",
    metadata: { name: "d", namespace: "default" },
    spec: { model: { preset: "tiny", layers: 1, dModel: 16, heads: 2, contextLength: 16 }, data: { source: "file:///data", tokenizer: "bytes" }, training: { steps: 2, globalBatchSize: 2, microBatchSize: 2 }, distillation },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.job.spec;
}

describe("objectiveForSpec with spec.distillation", () => {
  it("distills the job's model from the teacher at the URI, and records it in every checkpoint", async () => {
    const spec = jobSpec({ teacher: { uri: gantryUri }, alpha: 0.3, temperature: 4 });
    const setup = await objectiveForSpec(spec, trainConfigFromSpec(spec));
    expect((setup.objective as DistillationObjective).options).toEqual({ alpha: 0.3, temperature: 4 });
    expect(setup.objective.trainable.find((s) => s.name === "wte")?.shape).toEqual([256, 16]);
    expect(JSON.parse(setup.checkpointExtra[DISTILLATION_KEY] ?? "")).toEqual({ teacher: { uri: gantryUri, format: "gantry" }, alpha: 0.3, temperature: 4 });
    const before = tf.memory().numTensors;
    setup.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it("refuses a PEFT student, disposing what the student setup holds", async () => {
    let disposed = false;
    const peft = { plan: { kind: "peft" }, dispose: () => (disposed = true) } as unknown as TrainingSetup;
    const spec = jobSpec({ teacher: { uri: gantryUri } });
    await expect(withDistillation(peft, spec, trainConfigFromSpec(spec))).rejects.toThrow(ConfigError);
    expect(disposed).toBe(true);
  });
});

describe("loadTeacher", () => {
  it("a Hugging Face GPT-2 directory gives the same teacher as the Gantry checkpoint", async () => {
    const a = await loadTeacher({ uri: gantryUri, format: "gantry" });
    const b = await loadTeacher({ uri: hfUri, format: "hf-safetensors" });
    expect(b.config).toEqual({ ...a.config, contextLength: b.config.contextLength });
    expect(a.tokenizer).toBe("bytes");
    expect(b.tokenizer).toBe("gpt2");
    const tokens = tf.tensor2d([[1, 2, 3, 4, 200, 17]], [1, 6], "int32");
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.logits(tokens), b.logits(tokens)))).dataSync()[0] as number);
    expect(diff).toBeLessThan(1e-5);
    tf.dispose(tokens);
    a.dispose();
    b.dispose();
  });

  it("reads a GPT-2 config.json; names a missing field or file", async () => {
    expect(configFromHfGpt2({ n_embd: 64, n_head: 4, n_layer: 3, n_positions: 128, vocab_size: 500 }, "x")).toMatchObject({ dModel: 64, heads: 4, kvHeads: 4, layers: 3, contextLength: 128, vocabSize: 500, hidden: 256 });
    expect(() => configFromHfGpt2({ n_head: 4 }, "x")).toThrow(/config\.json has no integer n_embd or hidden_size/);
    await expect(loadTeacher({ uri: gantryUri, format: "hf-safetensors" })).rejects.toThrow(/no config\.json/);
    // An S3 teacher in a run without S3 is a configuration error (exit 2), not a retry.
    const err = await loadTeacher({ uri: "s3://models/teacher", format: "gantry" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TeacherLoadError);
    expect(exitFor(err).code).toBe(EXIT.badConfig);
  });
});
