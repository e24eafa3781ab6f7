// The writer and reader on a local folder: commit protocol, snapshots, keep-K, torn and corrupted checkpoints.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stateAt } from "@gantry/dataloader";
import { CheckpointReader } from "../../src/checkpoint/checkpoint-reader.js";
import { FileCheckpointStore, type CheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { CheckpointWriter, type SaveInput } from "../../src/checkpoint/checkpoint-writer.js";
import { CheckpointInputError, CheckpointWriteError } from "../../src/checkpoint/errors.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempRoot = () => {
  const d = mkdtempSync(join(tmpdir(), "ckpt-"));
  dirs.push(d);
  return d;
};

const FP = "sha256:0123";
const weightsAt = (step: number): NamedArray[] => [
  { name: "wte", shape: [5, 3], data: Float32Array.from({ length: 15 }, (_, i) => step + i / 16) },
  { name: "ln_f.g", shape: [3], data: Float32Array.from([1, 1 + step, -0.5]) },
];
const optimizerAt = (step: number): NamedArray[] => [
  { name: "m.wte", shape: [5, 3], data: Float32Array.from({ length: 15 }, (_, i) => -i * step) },
  { name: "v.wte", shape: [5, 3], data: Float32Array.from({ length: 15 }, (_, i) => i * 1e-8) },
  { name: "step", shape: [], data: Int32Array.from([step]) },
];
const input = (step: number): SaveInput => ({
  step,
  weights: weightsAt(step),
  optimizer: optimizerAt(step),
  tokensSeen: step * 4096,
  worldSize: 2,
  configHash: "c0ffee",
  datasetFingerprint: FP,
  dataState: stateAt(step, { jobUid: "job", attempt: 1, fingerprint: FP, seed: 3, samplesPerEpoch: 1000, globalBatch: 8, worldSize: 2, contextLength: 64, anchor: { step: 0, consumedSamples: 0 } }),
});
const values = (arrays: NamedArray[]) => arrays.map((a) => ({ name: a.name, shape: a.shape, data: Array.from(a.data) }));

/** Records every write, and can fail chosen ones. */
class RecordingStore implements CheckpointStore {
  readonly writes: string[] = [];
  constructor(
    private readonly inner: CheckpointStore,
    private readonly failWrite: (key: string, n: number) => boolean = () => false,
  ) {}
  get uri() {
    return this.inner.uri;
  }
  async write(key: string, bytes: Uint8Array) {
    const n = this.writes.filter((k) => k === key || k === `!${key}`).length;
    if (this.failWrite(key, n)) {
      this.writes.push(`!${key}`);
      throw Object.assign(new Error("injected"), { code: "ECONNRESET" });
    }
    this.writes.push(key);
    await this.inner.write(key, bytes);
  }
  read(key: string) {
    return this.inner.read(key);
  }
  list() {
    return this.inner.list();
  }
  remove(keys: readonly string[]) {
    return this.inner.remove(keys);
  }
}

const noWait = { sleep: () => Promise.resolve(), random: () => 0 };

describe("checkpoint commit protocol", () => {
  it("writes the data files, then the manifest, then latest; the reader loads the same bytes back", async () => {
    const root = tempRoot();
    const store = new RecordingStore(new FileCheckpointStore(root));
    const writer = new CheckpointWriter(store, { codeVersion: "test-1", now: () => new Date("2026-01-02T03:04:05.000Z") });
    const committed = await writer.save(input(100));
    expect(store.writes.slice(0, 2).sort()).toEqual(["step-00000100/model.safetensors", "step-00000100/optimizer.safetensors"]);
    expect(store.writes.slice(2)).toEqual(["step-00000100/manifest.json", "latest"]);
    expect(readFileSync(join(root, "latest"), "utf8")).toBe("step-00000100\n");
    expect(committed.uri).toBe(`${store.uri}/step-00000100`);
    const manifest = JSON.parse(readFileSync(join(root, "step-00000100", "manifest.json"), "utf8")) as Record<string, unknown>;
    expect(manifest).toMatchObject({ format: "gantry-checkpoint/1", step: 100, tokensSeen: 409_600, worldSize: 2, configHash: "c0ffee", datasetFingerprint: FP, codeVersion: "test-1", createdAt: "2026-01-02T03:04:05.000Z" });
    expect((manifest["dataState"] as { consumedSamples: number }).consumedSamples).toBe(800);
    const files = manifest["files"] as Record<string, { bytes: number; sha256: string }>;
    expect(files["model.safetensors"]?.bytes).toBe(readFileSync(join(root, "step-00000100", "model.safetensors")).length);
    expect(files["optimizer.safetensors"]?.sha256).toMatch(/^[0-9a-f]{64}$/);

    const loaded = await new CheckpointReader(new FileCheckpointStore(root)).latest();
    expect(loaded?.step).toBe(100);
    expect(loaded?.skipped).toEqual([]);
    expect(values(loaded?.weights ?? [])).toEqual(values(weightsAt(100)));
    expect(values(loaded?.optimizer ?? [])).toEqual(values(optimizerAt(100)));
    expect(loaded?.optimizer[2]?.data).toBeInstanceOf(Int32Array);
    expect(loaded?.manifest.dataState).toEqual(input(100).dataState);
  });

  it("snapshots the arrays when save returns, so training may overwrite them at once", async () => {
    const writer = new CheckpointWriter(new FileCheckpointStore(tempRoot()), { codeVersion: "t" });
    const save = input(7);
    const pending = writer.save(save);
    for (const w of save.weights) w.data.fill(999);
    await pending;
    const loaded = await new CheckpointReader(writer.store).latest();
    expect(values(loaded?.weights ?? [])).toEqual(values(weightsAt(7)));
  });

  it("runs saves one at a time in call order, each with its own commit", async () => {
    const store = new RecordingStore(new FileCheckpointStore(tempRoot()));
    const writer = new CheckpointWriter(store, { codeVersion: "t" });
    const a = writer.save(input(1));
    const b = writer.save(input(2));
    expect(writer.pending).toBe(2);
    expect((await a).step).toBe(1);
    expect((await b).step).toBe(2);
    await writer.idle();
    expect(writer.pending).toBe(0);
    const firstOfTwo = store.writes.findIndex((k) => k.startsWith("step-00000002"));
    expect(store.writes.slice(0, firstOfTwo)).toContain("latest");
    expect(store.writes.slice(0, firstOfTwo).every((k) => !k.startsWith("step-00000002"))).toBe(true);
    expect((await new CheckpointReader(store).latest())?.step).toBe(2);
  });

  it("refuses a data state of another step, before copying anything", () => {
    const writer = new CheckpointWriter(new FileCheckpointStore(tempRoot()), { codeVersion: "t" });
    expect(() => writer.save({ ...input(5), dataState: input(4).dataState })).toThrow(CheckpointInputError);
    expect(writer.pending).toBe(0);
  });

  it("retries failed writes with backoff, and on giving up leaves latest on the previous checkpoint", async () => {
    const retried: string[] = [];
    const flaky = new RecordingStore(new FileCheckpointStore(tempRoot()), (key, n) => key.endsWith("model.safetensors") && n < 2);
    const writer = new CheckpointWriter(flaky, { codeVersion: "t", ...noWait, onRetry: (key, attempt) => retried.push(`${key}#${attempt}`) });
    await writer.save(input(10));
    expect(retried).toEqual(["step-00000010/model.safetensors#1", "step-00000010/model.safetensors#2"]);

    const broken = new RecordingStore(flaky, (key) => key.startsWith("step-00000020/"));
    const failing = new CheckpointWriter(broken, { codeVersion: "t", ...noWait, retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    const err = await failing.save(input(20)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointWriteError);
    expect((err as CheckpointWriteError).attempts).toBe(3);
    expect((err as Error).message).toMatch(/step-00000020\/(model|optimizer)\.safetensors failed after 3 attempt\(s\): injected/);
    expect((await new CheckpointReader(broken).latest())?.step).toBe(10);
  });
});

describe("keep-K", () => {
  it("keeps the last K committed checkpoints and removes older ones and older torn ones, after the commit", async () => {
    const root = tempRoot();
    const store = new FileCheckpointStore(root);
    mkdirSync(join(root, "step-00000015"));
    writeFileSync(join(root, "step-00000015", "model.safetensors"), "torn");
    mkdirSync(join(root, "step-00000099"));
    writeFileSync(join(root, "step-00000099", "model.safetensors"), "a newer torn save");
    const writer = new CheckpointWriter(store, { codeVersion: "t", keep: 2 });
    const pruned: number[][] = [];
    for (const step of [10, 20, 30, 40]) pruned.push((await writer.save(input(step))).pruned);
    expect(pruned).toEqual([[], [15], [10], [20]]);
    expect(readdirSync(root).sort()).toEqual(["latest", "step-00000030", "step-00000040", "step-00000099"]);
    expect(readdirSync(join(root, "step-00000030")).sort()).toEqual(["manifest.json", "model.safetensors", "optimizer.safetensors"]);
  });
});

describe("the reader never loads a torn or corrupted checkpoint", () => {
  async function twoCheckpoints() {
    const root = tempRoot();
    const writer = new CheckpointWriter(new FileCheckpointStore(root), { codeVersion: "t" });
    await writer.save(input(10));
    await writer.save(input(20));
    return { root, reader: new CheckpointReader(new FileCheckpointStore(root)) };
  }

  it("falls back to the previous checkpoint when a file of the latest does not match its sha256", async () => {
    const { root, reader } = await twoCheckpoints();
    const file = join(root, "step-00000020", "model.safetensors");
    const bytes = readFileSync(file);
    bytes.writeUInt8((bytes.at(-1) ?? 0) ^ 1, bytes.length - 1);
    writeFileSync(file, bytes);
    const loaded = await reader.latest();
    expect(loaded?.step).toBe(10);
    expect(loaded?.skipped).toHaveLength(1);
    expect(loaded?.skipped[0]?.dir).toBe("step-00000020");
    expect(loaded?.skipped[0]?.reason).toMatch(/^model\.safetensors has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}$/);
    await expect(reader.load(20)).rejects.toThrow(/checkpoint .*step-00000020 is not usable/);
  });

  it("rejects a truncated file by its size", async () => {
    const { root, reader } = await twoCheckpoints();
    const file = join(root, "step-00000020", "optimizer.safetensors");
    writeFileSync(file, readFileSync(file).subarray(0, 100));
    expect((await reader.latest())?.skipped[0]?.reason).toMatch(/optimizer\.safetensors has 100 bytes, the manifest says \d+/);
  });

  it("ignores a newer directory without a manifest, even when latest names it", async () => {
    const { root, reader } = await twoCheckpoints();
    mkdirSync(join(root, "step-00000030"));
    writeFileSync(join(root, "step-00000030", "model.safetensors"), readFileSync(join(root, "step-00000020", "model.safetensors")));
    expect((await reader.latest())?.step).toBe(20);
    writeFileSync(join(root, "latest"), "step-00000030\n");
    const loaded = await reader.latest();
    expect(loaded?.step).toBe(20);
    expect(loaded?.skipped).toEqual([{ dir: "step-00000030", reason: "no manifest.json: the save never committed" }]);
  });

  it("finds the newest valid checkpoint by listing when latest is missing or garbage, and nothing in an empty root", async () => {
    const { root, reader } = await twoCheckpoints();
    rmSync(join(root, "latest"));
    expect((await reader.latest())?.step).toBe(20);
    writeFileSync(join(root, "latest"), "nonsense");
    expect((await reader.latest())?.step).toBe(20);
    writeFileSync(join(root, "step-00000020", "manifest.json"), "{");
    expect((await reader.latest())?.step).toBe(10);
    expect(await new CheckpointReader(new FileCheckpointStore(join(root, "nothing-here"))).latest()).toBeUndefined();
    expect(existsSync(join(root, "nothing-here"))).toBe(false);
  });
});
