// Checkpoints on the real S3 server: save and load, keep-K, and a writer process SIGKILLed in the middle of an upload,
// after which the reader still returns the previous committed checkpoint.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, inject, it } from "vitest";
import { stateAt } from "@gantry/dataloader";
import { CheckpointReader, CheckpointWriter, S3CheckpointStore, openCheckpointStore, type NamedArray, type SaveInput } from "@gantry/trainer";
import { REPO_ROOT } from "../support/cluster-env.js";
import { s3Client } from "../support/services.js";

const env = inject("cluster");
const s3 = s3Client(env);
const prefix = `trainer-ckpt-test/${randomBytes(6).toString("hex")}/`;
const temp = mkdtempSync(join(tmpdir(), "ckpt-kill-"));

afterAll(async () => {
  rmSync(temp, { recursive: true, force: true });
  const keys: string[] = [];
  for await (const item of s3.listObjectsV2(env.S3_BUCKET, prefix, true)) if (typeof item.name === "string") keys.push(item.name);
  if (keys.length > 0) await s3.removeObjects(env.S3_BUCKET, keys);
});

const FP = "sha256:feed";
const input = (step: number, elements = 1000): SaveInput => ({
  step,
  weights: [{ name: "wte", shape: [elements], data: Float32Array.from({ length: elements }, (_, i) => step + i) }],
  optimizer: [{ name: "m.wte", shape: [elements], data: new Float32Array(elements).fill(-step) }],
  tokensSeen: step * 10,
  worldSize: 1,
  configHash: "abc",
  datasetFingerprint: FP,
  dataState: stateAt(step, { jobUid: "s3-ckpt", attempt: 0, fingerprint: FP, seed: 1, samplesPerEpoch: 100, globalBatch: 4, worldSize: 1, contextLength: 16, anchor: { step: 0, consumedSamples: 0 } }),
});
const values = (a: readonly NamedArray[]) => a.map((t) => [t.name, Array.from(t.data)]);

async function keysUnder(p: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of s3.listObjectsV2(env.S3_BUCKET, p, true)) if (typeof item.name === "string") keys.push(item.name.slice(p.length));
  return keys.sort();
}

describe("checkpoints on S3", () => {
  it("saves, commits with latest, keeps the last K and loads the same values back", async () => {
    const root = `${prefix}basic/`;
    const store = openCheckpointStore(`s3://${env.S3_BUCKET}/${root}`, s3);
    expect(store).toBeInstanceOf(S3CheckpointStore);
    const writer = new CheckpointWriter(store, { codeVersion: "it", keep: 2 });
    for (const step of [100, 200, 300]) await writer.save(input(step, 300_000));
    expect(await keysUnder(root)).toEqual(["latest", ...[200, 300].flatMap((s) => ["manifest.json", "model.safetensors", "optimizer.safetensors"].map((f) => `step-${String(s).padStart(8, "0")}/${f}`))]);
    const loaded = await new CheckpointReader(store).latest();
    expect(loaded?.step).toBe(300);
    expect(values(loaded?.weights ?? [])).toEqual(values(input(300, 300_000).weights));
    expect(loaded?.manifest.dataState.consumedSamples).toBe(1200);
  });

  it("returns the previous committed checkpoint after the writer is SIGKILLed mid-upload", async () => {
    const root = `${prefix}killed/`;
    const child = join(temp, "writer.mts");
    // The child commits step 1, then starts a big step 2 and reports each finished object write.
    writeFileSync(
      child,
      `
import { stateAt } from "@gantry/dataloader";
import { CheckpointWriter, openCheckpointStore } from "${join(REPO_ROOT, "trainer", "src", "index.ts")}";
import { s3Client } from "${join(REPO_ROOT, "test", "support", "services.ts")}";
const env = JSON.parse(process.env.CLUSTER_ENV ?? "{}");
const inner = openCheckpointStore(process.argv[2] ?? "", s3Client(env));
const store = { uri: inner.uri, read: (k: string) => inner.read(k), list: () => inner.list(), remove: (k: readonly string[]) => inner.remove(k),
  write: async (k: string, b: Uint8Array) => { await inner.write(k, b); console.log("wrote " + k); } };
const writer = new CheckpointWriter(store, { codeVersion: "child" });
const FP = "sha256:feed";
const at = (step: number, n: number) => ({ step, tokensSeen: step, worldSize: 1, configHash: "abc", datasetFingerprint: FP,
  weights: [{ name: "wte", shape: [n], data: new Float32Array(n).fill(step) }],
  optimizer: [{ name: "m.wte", shape: [1000], data: new Float32Array(1000).fill(step) }],
  dataState: stateAt(step, { jobUid: "kill", attempt: 0, fingerprint: FP, seed: 1, samplesPerEpoch: 100, globalBatch: 4, worldSize: 1, contextLength: 16, anchor: { step: 0, consumedSamples: 0 } }) });
await writer.save(at(1, 1000));
console.log("committed 1");
void writer.save(at(2, 48_000_000));
console.log("saving 2");
await writer.idle();
console.log("committed 2");
`,
    );
    const proc = spawn("npx", ["tsx", child, `s3://${env.S3_BUCKET}/${root}`], { cwd: REPO_ROOT, env: { ...process.env, CLUSTER_ENV: JSON.stringify(env) }, stdio: ["ignore", "pipe", "inherit"] });
    const lines: string[] = [];
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.once("exit", (_code, signal) => resolve(signal)));
    for await (const line of createInterface({ input: proc.stdout })) {
      lines.push(line);
      // The small optimizer file of step 2 is in; the 192 MB model file is still on its way.
      if (line === "wrote step-00000002/optimizer.safetensors") {
        proc.kill("SIGKILL");
        break;
      }
    }
    expect(await exited).toBe("SIGKILL");
    expect(lines.slice(-3)).toEqual(["committed 1", "saving 2", "wrote step-00000002/optimizer.safetensors"]);
    expect(lines).toContain("committed 1");
    expect(lines).not.toContain("committed 2");
    const keys = await keysUnder(root);
    expect(keys).toContain("step-00000002/optimizer.safetensors");
    expect(keys).not.toContain("step-00000002/manifest.json");
    expect(keys).not.toContain("step-00000002/model.safetensors");

    const store = openCheckpointStore(`s3://${env.S3_BUCKET}/${root}`, s3);
    const loaded = await new CheckpointReader(store).latest();
    expect(loaded?.step).toBe(1);
    expect(Array.from(loaded?.weights[0]?.data ?? []).every((v) => v === 1)).toBe(true);

    // The next run's first commit clears the torn directory, which is older than it.
    const writer = new CheckpointWriter(store, { codeVersion: "it" });
    const committed = await writer.save(input(3));
    expect(committed.pruned).toEqual([2]);
    expect((await keysUnder(root)).some((k) => k.startsWith("step-00000002/"))).toBe(false);
  });
});
