// A LoRA job through the trainer's pod entry point (the operator's environment contract, real processes, the real
// Redis): it starts from a Gantry checkpoint trained first, its checkpoints hold the adapters alone and name their
// base, a SIGTERM mid-run and a new attempt give bitwise the run that was never interrupted (on 1 and 2 ranks), and
// `gantry-train merge` turns the result into a plain checkpoint that gantry-generate samples from.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { REPO_ROOT } from "../support/cluster-env.js";
import { latestStep, readLosses, readManifest, stepDir, tensorNames } from "../support/checkpoint-files.js";
import { writeTokenDataset } from "../support/token-dataset.js";
import { TrainerProcesses, exited, stepLogged, type TrainerRun } from "../support/trainer-process.js";

const env = inject("cluster");
const STEPS = 8;
let dir: string;
let data: string;
let base: string;
let trainers: TrainerProcesses;
/** The uninterrupted 1-rank LoRA run, which the last test restarts on another base. */
let straightOne: TrainerRun | undefined;

const model = { preset: "tiny", layers: 2, dModel: 32, heads: 2, contextLength: 16, dropout: 0.1 };
const lora = { method: "lora", lora: { rank: 4, alpha: 8, dropout: 0.1, targetModules: ["q", "v", "up"] } };
const spec = (extra: Record<string, unknown>) => ({
  workers: 1,
  model,
  data: { source: pathToFileURL(data).href, format: "tokens", tokenizer: "bytes" },
  training: { steps: STEPS, globalBatchSize: 4, microBatchSize: 2, logEverySteps: 1, seed: 7, optimizer: { lr: 0.01 }, schedule: { warmupSteps: 2 } },
  checkpointing: { everySteps: 2, keepLast: 10 },
  ...extra,
});

/** Logs at info: the tests read the objective line and the step lines. */
const attemptToEnd = async (run: TrainerRun, attempt: number): Promise<string> => (await trainers.finish(run, attempt, { logLevel: "info" }))[0]?.output ?? "";

function outcome(run: TrainerRun) {
  const manifest = readManifest(run.ckpt, STEPS);
  return { model: manifest.files["model.safetensors"], optimizer: manifest.files["optimizer.safetensors"]?.sha256, losses: readLosses(run.ckpt).train, extra: manifest.extra };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-peft-"));
  data = await writeTokenDataset(dir, 120);
  trainers = new TrainerProcesses(env, dir);
  // The "pretrained" model: a full training run of the same shape.
  const pretrain = trainers.run("pretrain", 1, spec({}));
  await attemptToEnd(pretrain, 0);
  base = pathToFileURL(pretrain.ckpt).href;
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const loraSpec = () => spec({ model: { ...model, pretrained: { uri: base } }, peft: lora });

describe.each([1, 2])("a LoRA job on %i rank(s)", (world) => {
  let straight: ReturnType<typeof outcome>;

  it("trains the adapters alone: small checkpoints of lora_a/lora_b that name their base", async () => {
    const run = trainers.run(`lora-straight-${world}`, world, loraSpec());
    const log = await attemptToEnd(run, 0);
    straight = outcome(run);
    if (world === 1) straightOne = run;
    const line = log.split("\n").find((l) => l.includes('"message":"objective"')) ?? "{}";
    expect(JSON.parse(line)).toMatchObject({ kind: "peft", trainable: 2304 });
    const names = tensorNames(join(stepDir(run.ckpt, STEPS), "model.safetensors"));
    expect(names.every((n) => /^h\.[01]\.(attn\.[qv]|mlp\.fc)\.lora_[ab]$/.test(n))).toBe(true);
    expect(names).toHaveLength(2 * 3 * 2);
    // 2 layers × r·(d_in + d_out) over q (32→32), v (32→32), up (32→128) at r = 4: 2,304 float32 values, ~9 KB
    // against the base's ~140 KB.
    const baseFile = statSync(join(stepDir(join(dir, "pretrain", "ckpt"), STEPS), "model.safetensors")).size;
    expect(straight.model?.bytes).toBeLessThan(baseFile / 8);
    expect(straight.extra["peft.method"]).toBe("lora");
    expect(straight.extra["peft.base.uri"]).toBe(base);
    expect(straight.extra["peft.base.sha256"]).toMatch(/^[0-9a-f]{64}$/);
    expect(straight.losses.map((l) => l.step)).toEqual([...Array(STEPS).keys()]);
  });

  it("SIGTERM mid-run, then a new attempt: bitwise the uninterrupted run (adapters, their AdamW state, every loss)", async () => {
    const run = trainers.run(`lora-preempted-${world}`, world, loraSpec());
    const ranks = trainers.start(run, 0, { logLevel: "info" });
    const ends = ranks.map(exited);
    await stepLogged(ranks[0], 1);
    ranks[0]?.kill("SIGTERM");
    for (const s of await Promise.all(ends)) expect(s.code, s.output).toBe(EXIT.preempted);
    expect(latestStep(run.ckpt)).toBeLessThan(STEPS);
    await attemptToEnd(run, 1);
    const got = outcome(run);
    expect(got.losses).toEqual(straight.losses);
    expect(got.model?.sha256).toBe(straight.model?.sha256);
    expect(got.optimizer).toBe(straight.optimizer);
  });
});

describe("after training", () => {
  const cli = (script: string, args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "trainer", "src", "cli", script), ...args], { cwd: REPO_ROOT, encoding: "utf8", env: { PATH: process.env["PATH"] }, timeout: 120_000 });
  const lora1 = () => pathToFileURL(join(dir, "lora-straight-1", "ckpt")).href;

  it("gantry-generate refuses the adapters-only checkpoint; gantry-train merge makes one it samples from", () => {
    const merged = join(dir, "merged");
    const r = cli("train.ts", ["merge", "--checkpoint", lora1(), "--out", merged, "--hf-out", join(dir, "hf")]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/merged .*lora-straight-1\/ckpt\/step-00000008 \(2,304 adapter parameters\) into 34,176 parameters/);
    expect(tensorNames(join(merged, "step-00000008", "model.safetensors"))).toContain("h.0.attn.q");
    expect(tensorNames(join(dir, "hf", "model.safetensors"))).toContain("transformer.h.0.attn.c_attn.weight");
    const g = cli("generate.ts", ["--checkpoint", pathToFileURL(merged).href, "--prompt", "the ", "--tokens", "8", "--backend", "cpu"]);
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout.length).toBeGreaterThan(0);
    const adapters = cli("generate.ts", ["--checkpoint", lora1(), "--tokens", "4", "--backend", "cpu"]);
    expect(adapters.status).not.toBe(0);
  });

  it("a resume on a base that changed is refused with exit 2, naming both hashes", async () => {
    // The finished 1-rank LoRA run (a copy: same job, so its data state resumes), now pointed at another base: the
    // pretrain run's step 4 instead of its newest step.
    const done = straightOne as TrainerRun;
    const run: TrainerRun = { ...done, name: "lora-rebased", ckpt: join(dir, "lora-rebased", "ckpt"), spec: spec({ model: { ...model, pretrained: { uri: `${base}/step-00000004` } }, peft: lora, training: { ...(spec({}).training as object), steps: STEPS + 2 } }) };
    mkdirSync(join(dir, "lora-rebased"));
    expect(spawnSync("cp", ["-r", done.ckpt, run.ckpt]).status).toBe(0);
    const [r] = await Promise.all(trainers.start(run, 1, { logLevel: "info" }).map(exited));
    expect(r?.code, r?.output).toBe(EXIT.badConfig);
    expect(readFileSync(trainers.terminationLog(run, 1, 0), "utf8")).toMatch(/was trained on a base with sha256 [0-9a-f]{64}, but model.pretrained now holds [0-9a-f]{64}/);
  });
});
