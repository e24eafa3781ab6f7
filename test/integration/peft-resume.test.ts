// A LoRA job through the trainer's pod entry point (the operator's environment contract, real processes, the real
// Redis): it starts from a Gantry checkpoint trained first, its checkpoints hold the adapters alone and name their
// base, a SIGTERM mid-run and a new attempt give bitwise the run that was never interrupted (on 1 and 2 ranks), and
// `gantry-train merge` turns the result into a plain checkpoint that gantry-generate samples from.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT, POD_ENV } from "@gantry/crds";
import { openStore, prepareDataset, tokenizerFor } from "@gantry/dataloader";
import { REPO_ROOT } from "../support/cluster-env.js";
import { writeCorpus } from "../support/corpus.js";

const env = inject("cluster");
const STEPS = 8;
let dir: string;
let data: string;
let base: string;
/** The uninterrupted 1-rank LoRA run, which the last test restarts on another base. */
let straightOne: Run | undefined;

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

interface Run {
  name: string;
  uid: string;
  world: number;
  ckpt: string;
  spec: Record<string, unknown>;
}

const newRun = (name: string, world: number, s: Record<string, unknown>): Run => ({ name, uid: `${name}-${Date.now()}`, world, ckpt: join(dir, name, "ckpt"), spec: s });

function startAttempt(run: Run, attempt: number): ChildProcess[] {
  return Array.from({ length: run.world }, (_, rank) =>
    spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "trainer", "src", "main.ts")], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env["PATH"],
        GANTRY_LOG_LEVEL: "info",
        GANTRY_TERMINATION_LOG: join(dir, `${run.name}-${attempt}-${rank}.termination`),
        [POD_ENV.jobName]: run.name,
        [POD_ENV.jobNamespace]: "test",
        [POD_ENV.jobUid]: run.uid,
        [POD_ENV.attempt]: String(attempt),
        [POD_ENV.worldSize]: String(run.world),
        [POD_ENV.rankBase]: String(rank),
        [POD_ENV.podIp]: "127.0.0.1",
        [POD_ENV.masterPort]: "0",
        [POD_ENV.checkpointUri]: pathToFileURL(run.ckpt).href,
        [POD_ENV.redisUrl]: env.REDIS_URL,
        [POD_ENV.spec]: JSON.stringify(run.spec),
      },
    }),
  );
}

function exited(p: ChildProcess): Promise<{ code: number | null; output: string }> {
  let output = "";
  p.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  p.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => p.on("exit", (code) => resolve({ code, output })));
}

async function attemptToEnd(run: Run, attempt: number): Promise<string> {
  const results = await Promise.all(startAttempt(run, attempt).map(exited));
  for (const r of results) expect(r.code, r.output).toBe(EXIT.success);
  return results[0]?.output ?? "";
}

const stepDir = (run: Run, step: number) => join(run.ckpt, `step-${String(step).padStart(8, "0")}`);

function outcome(run: Run) {
  const manifest = JSON.parse(readFileSync(join(stepDir(run, STEPS), "manifest.json"), "utf8")) as { files: Record<string, { sha256: string; bytes: number }>; extra: Record<string, string> };
  const history = JSON.parse(readFileSync(join(run.ckpt, "losses.json"), "utf8")) as { train: { step: number; loss: number }[] };
  return { model: manifest.files["model.safetensors"], optimizer: manifest.files["optimizer.safetensors"]?.sha256, losses: history.train, extra: manifest.extra };
}

/** Tensor names in a safetensors file's header. */
function tensorNames(file: string): string[] {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return Object.keys(JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>).filter((k) => k !== "__metadata__");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-peft-"));
  const text = join(dir, "text");
  mkdirSync(text);
  data = join(dir, "data");
  mkdirSync(data);
  await prepareDataset(openStore(pathToFileURL(data).href), { files: writeCorpus(text, 120), format: "text", textField: "text", tokenizer: tokenizerFor("bytes"), shardBytes: 8192 });
  // The "pretrained" model: a full training run of the same shape.
  const pretrain = newRun("pretrain", 1, spec({}));
  await attemptToEnd(pretrain, 0);
  base = pathToFileURL(pretrain.ckpt).href;
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const loraSpec = () => spec({ model: { ...model, pretrained: { uri: base } }, peft: lora });

describe.each([1, 2])("a LoRA job on %i rank(s)", (world) => {
  let straight: ReturnType<typeof outcome>;

  it("trains the adapters alone: small checkpoints of lora_a/lora_b that name their base", async () => {
    const run = newRun(`lora-straight-${world}`, world, loraSpec());
    const log = await attemptToEnd(run, 0);
    straight = outcome(run);
    if (world === 1) straightOne = run;
    const line = log.split("\n").find((l) => l.includes('"message":"objective"')) ?? "{}";
    expect(JSON.parse(line)).toMatchObject({ kind: "peft", trainable: 2304 });
    const names = tensorNames(join(stepDir(run, STEPS), "model.safetensors"));
    expect(names.every((n) => /^h\.[01]\.(attn\.[qv]|mlp\.fc)\.lora_[ab]$/.test(n))).toBe(true);
    expect(names).toHaveLength(2 * 3 * 2);
    // 2 layers × r·(d_in + d_out) over q (32→32), v (32→32), up (32→128) at r = 4: 2,304 float32 values, ~9 KB
    // against the base's ~140 KB.
    const baseFile = statSync(join(dir, "pretrain", "ckpt", `step-${String(STEPS).padStart(8, "0")}`, "model.safetensors")).size;
    expect(straight.model?.bytes).toBeLessThan(baseFile / 8);
    expect(straight.extra["peft.method"]).toBe("lora");
    expect(straight.extra["peft.base.uri"]).toBe(base);
    expect(straight.extra["peft.base.sha256"]).toMatch(/^[0-9a-f]{64}$/);
    expect(straight.losses.map((l) => l.step)).toEqual([...Array(STEPS).keys()]);
  });

  it("SIGTERM mid-run, then a new attempt: bitwise the uninterrupted run (adapters, their AdamW state, every loss)", async () => {
    const run = newRun(`lora-preempted-${world}`, world, loraSpec());
    const ranks = startAttempt(run, 0);
    const ends = ranks.map(exited);
    await new Promise<void>((resolve) => ranks[0]?.stdout?.on("data", (d: Buffer) => /"message":"step".*"step":1\b/.test(d.toString()) && resolve()));
    ranks[0]?.kill("SIGTERM");
    for (const s of await Promise.all(ends)) expect(s.code, s.output).toBe(EXIT.preempted);
    expect(Number(readFileSync(join(run.ckpt, "latest"), "utf8").trim().replace("step-", ""))).toBeLessThan(STEPS);
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
    const done = straightOne as Run;
    const run: Run = { ...done, name: "lora-rebased", ckpt: join(dir, "lora-rebased", "ckpt"), spec: spec({ model: { ...model, pretrained: { uri: `${base}/step-00000004` } }, peft: lora, training: { ...(spec({}).training as object), steps: STEPS + 2 } }) };
    mkdirSync(join(dir, "lora-rebased"));
    expect(spawnSync("cp", ["-r", done.ckpt, run.ckpt]).status).toBe(0);
    const [r] = await Promise.all(startAttempt(run, 1).map(exited));
    expect(r?.code, r?.output).toBe(EXIT.badConfig);
    expect(readFileSync(join(dir, "lora-rebased-1-0.termination"), "utf8")).toMatch(/was trained on a base with sha256 [0-9a-f]{64}, but model.pretrained now holds [0-9a-f]{64}/);
  });
});
