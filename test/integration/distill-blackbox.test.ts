// Black-box distillation from our own model through the generation path, as real processes: gantry-serve over a
// Gantry checkpoint is the OpenAI-compatible teacher, `gantry-data distill` asks it in each mode, and
// `gantry-data prepare` turns the corpus into token shards. The answers are the sampler's (greedy), so they are
// checked against the served model's own completions.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileCheckpointStore } from "../../trainer/src/checkpoint/checkpoint-store.js";
import { initParams } from "../../trainer/src/model/init-params.js";
import type { ModelConfig } from "../../trainer/src/model/model-config.js";
import { writeModelCheckpoint } from "../../trainer/test/distill/model-checkpoint.js";
import { REPO_ROOT } from "../support/cluster-env.js";

const CONFIG: ModelConfig = { vocabSize: 256, contextLength: 64, layers: 1, dModel: 32, heads: 2, kvHeads: 2, hidden: 64, activation: "gelu", dropout: 0, positionalEncoding: "learned", tieEmbeddings: true };
let dir: string;
let serve: ChildProcess | undefined;
let endpoint: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-blackbox-"));
  await writeModelCheckpoint(new FileCheckpointStore(join(dir, "teacher")), CONFIG, initParams(CONFIG, 9), "bytes");
  serve = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "trainer", "src", "cli", "serve.ts"), "--checkpoint", join(dir, "teacher"), "--port", "0", "--backend", "cpu", "--model-name", "own"], { cwd: REPO_ROOT, stdio: ["ignore", "ignore", "pipe"] });
  // --port 0 picks a free port; the start line names it.
  endpoint = await new Promise<string>((resolve, reject) => {
    let err = "";
    serve?.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
      const m = /on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(err);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    serve?.once("exit", (code) => reject(new Error(`gantry-serve exited ${code}: ${err}`)));
  });
}, 60_000);

afterAll(() => {
  serve?.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

const gantryData = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "dataloader", "src", "cli", "gantry-data.ts"), ...args], { cwd: REPO_ROOT, encoding: "utf8" });

async function served(prompt: string): Promise<string> {
  const res = await fetch(`${endpoint}/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt, max_tokens: 8, temperature: 0 }) });
  return ((await res.json()) as { choices: { text: string }[] }).choices[0]?.text ?? "";
}

describe("black-box distillation from gantry-serve", () => {
  it("writes each mode's corpus from the served model's answers, and prepare ingests it", async () => {
    const prompts = join(dir, "prompts.jsonl");
    writeFileSync(prompts, '{"prompt":"one two"}\n{"prompt":"three"}\n');
    const examples = join(dir, "examples.jsonl");
    writeFileSync(examples, '{"input":"a","output":"b"}\n');
    const modes: Record<string, string[]> = { plain: [], cot: [], icl: ["--task", "Continue.", "--examples", examples] };
    for (const [mode, extra] of Object.entries(modes)) {
      const out = join(dir, `${mode}.jsonl`);
      const r = gantryData(["distill", "--endpoint", endpoint, "--prompts", prompts, "--output", out, "--mode", mode, "--max-tokens", "8", ...extra]);
      expect(r.status, r.stderr).toBe(0);
      const records = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { text: string; completion: string; prompt: string; mode: string });
      expect(records.map((x) => [x.prompt, x.mode])).toEqual([["one two", mode], ["three", mode]]);
      if (mode === "plain") {
        // Greedy answers are the served model's own completions (the stop-free mode), byte for byte.
        expect(records[0]?.completion).toBe(await served("one two"));
        expect(records[0]?.text).toBe(`one two${records[0]?.completion ?? ""}`);
      }
      const shards = pathToFileURL(join(dir, `shards-${mode}`)).href;
      const p = gantryData(["prepare", "--output", shards, "--tokenizer", "bytes", "--threads", "0", out]);
      expect(p.status, p.stderr).toBe(0);
      expect(p.stdout).toMatch(/wrote 1 shard\(s\), 2 documents/);
    }
  });
});
