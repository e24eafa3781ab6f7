// A distillation job through runTrainingJob (what each worker pod runs): a teacher trained first, its checkpoint on
// the local S3, is loaded by the URI in spec.distillation.teacher; a smaller student trains against it, its
// checkpoints record the distillation, α = 1 is bitwise plain training, and a teacher of another vocabulary is a
// permanent configuration error (exit 2) that names both sizes.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { CheckpointReader } from "../../trainer/src/checkpoint/checkpoint-reader.js";
import { openCheckpointStore } from "../../trainer/src/checkpoint/checkpoint-store.js";
import { DISTILLATION_KEY } from "../../trainer/src/distill/distill-setup.js";
import { TeacherMismatchError } from "../../trainer/src/distill/teacher.js";
import { exitFor } from "../../trainer/src/run/exit-code.js";
import { runTrainingJob, type RunOutcome } from "../../trainer/src/run/train-job.js";
import { createTrainerLogger } from "../../trainer/src/runtime/log.js";
import { fromManifest } from "../../trainer/src/runtime/run-config.js";
import { StopSignal } from "../../trainer/src/runtime/stop-signal.js";
import { s3Client } from "../support/services.js";
import { writeTokenDataset } from "../support/token-dataset.js";
import { TrainerProcesses, exited } from "../support/trainer-process.js";

const env = inject("cluster");
const s3 = s3Client(env);
const prefix = `distill-${Date.now()}`;
const teacherUri = `s3://${env.S3_BUCKET}/${prefix}/teacher`;
let dir: string;
let data: string;

const training = { globalBatchSize: 4, microBatchSize: 2, logEverySteps: 1, seed: 7, optimizer: { lr: 0.01 }, schedule: { warmupSteps: 1 } };

async function run(name: string, spec: Record<string, unknown>): Promise<RunOutcome> {
  const cfg = fromManifest(JSON.stringify({ metadata: { name }, spec }), `${name}.yaml`, { outDir: join(dir, name) });
  const log = createTrainerLogger({ job: name, attempt: 0, rank: 0 }, "warn");
  return runTrainingJob(cfg, { log, stop: new StopSignal(), s3, backendOrder: ["wasm", "cpu"] });
}

const student = (name: string, distillation: Record<string, unknown> | undefined, model: Record<string, unknown> = {}) => ({
  model: { preset: "tiny", layers: 1, dModel: 16, heads: 2, contextLength: 16, ...model },
  data: { source: pathToFileURL(data).href, format: "tokens", tokenizer: "bytes" },
  training: { ...training, steps: 4 },
  checkpointing: { uri: `s3://${env.S3_BUCKET}/${prefix}/${name}`, everySteps: 4 },
  ...(distillation === undefined ? {} : { distillation }),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-distill-"));
  data = await writeTokenDataset(dir, 60);
  // The teacher: larger than the students, trained by the same trainer, checkpointed to S3.
  const teacher = await run("teacher", {
    model: { preset: "tiny", layers: 2, dModel: 32, heads: 2, contextLength: 16 },
    data: { source: pathToFileURL(data).href, format: "tokens", tokenizer: "bytes" },
    training: { ...training, steps: 12 },
    checkpointing: { uri: teacherUri, everySteps: 12 },
  });
  expect(teacher.kind).toBe("finished");
});

afterAll(async () => {
  const keys: string[] = [];
  for await (const o of s3.listObjectsV2(env.S3_BUCKET, `${prefix}/`, true)) if (typeof o.name === "string") keys.push(o.name);
  if (keys.length > 0) await s3.removeObjects(env.S3_BUCKET, keys);
  rmSync(dir, { recursive: true, force: true });
});

describe("a distillation job", () => {
  it("loads the teacher from S3 by URI, trains the student against it, and records the distillation", async () => {
    const distillation = { teacher: { uri: teacherUri }, alpha: 0.5, temperature: 2 };
    const distilled = await run("student", student("student", distillation));
    expect(distilled.kind).toBe("finished");
    expect(distilled.losses).toHaveLength(4);
    expect(distilled.losses.every((p) => Number.isFinite(p.loss))).toBe(true);
    const plain = await run("plain", student("plain", undefined));
    // Same student, same data, same seed: only the teacher's term differs.
    expect(distilled.losses[0]?.loss).not.toBe(plain.losses[0]?.loss);

    const saved = await new CheckpointReader(openCheckpointStore(`s3://${env.S3_BUCKET}/${prefix}/student`, s3)).latest();
    expect(saved?.step).toBe(4);
    expect(JSON.parse(String(saved?.manifest.extra?.[DISTILLATION_KEY]))).toEqual({ teacher: { uri: teacherUri, format: "gantry" }, alpha: 0.5, temperature: 2 });
    expect(saved?.weights.find((w) => w.name === "wte")?.shape).toEqual([256, 16]);

    // α = 1 leaves only the hard-label term: bitwise the plain run's losses.
    const hard = await run("hard", student("hard", { teacher: { uri: teacherUri }, alpha: 1, temperature: 2 }));
    expect(hard.losses.map((p) => p.loss)).toEqual(plain.losses.map((p) => p.loss));
  });

  it("refuses a teacher of another vocabulary with exit 2, naming both sizes", async () => {
    const err = await run("mismatch", student("mismatch", { teacher: { uri: teacherUri } }, { vocabSize: 300 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TeacherMismatchError);
    expect(exitFor(err).code).toBe(EXIT.badConfig);
    expect(String(err)).toMatch(/vocabSize 256 differs from the student's 300/);
  });

  it("names the URI of a teacher that is not there", async () => {
    const missing = `s3://${env.S3_BUCKET}/${prefix}/nobody`;
    const err = await run("missing", student("missing", { teacher: { uri: missing } })).catch((e: unknown) => e);
    expect(exitFor(err).code).toBe(EXIT.badConfig);
    expect(String(err)).toContain(`${missing}: no whole checkpoint there`);
  });
});

describe("a distillation job's pod", () => {
  it("loads the teacher from the spec's S3 URI through the pod entry point and finishes with exit 0", async () => {
    const name = "pod-student";
    const ckpt = `s3://${env.S3_BUCKET}/${prefix}/${name}`;
    const spec = { ...student(name, { teacher: { uri: teacherUri }, alpha: 0.5, temperature: 2 }), checkpointing: { everySteps: 2 } };
    const trainers = new TrainerProcesses(env, dir);
    const pod = { ...trainers.run(name, 1, spec), ckpt };
    const [r] = await Promise.all(trainers.start(pod, 0, { s3: true }).map(exited));
    const termination = trainers.terminationLog(pod, 0, 0);
    expect(r?.code, `${r?.output}\n${existsSync(termination) ? readFileSync(termination, "utf8") : ""}`).toBe(EXIT.success);
    const saved = await new CheckpointReader(openCheckpointStore(ckpt, s3)).latest();
    expect(saved?.step).toBe(4);
    expect(JSON.parse(String(saved?.manifest.extra?.[DISTILLATION_KEY])).teacher.uri).toBe(teacherUri);
  });
});
