// ZeRO checkpoints on a local folder: every rank writes its own shard and a receipt, rank 0 commits the manifest
// once every receipt of this save is in; a reader gets the full weights and optimizer state back; resuming from it
// is bitwise exact at the same world size and re-shards to another; a shard that never arrives never commits.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { stateAt } from "@gantry/dataloader";
import { selectBackend } from "../../src/backend/select-backend.js";
import { CheckpointReader } from "../../src/checkpoint/checkpoint-reader.js";
import { FileCheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { CheckpointWriter, type CheckpointFields } from "../../src/checkpoint/checkpoint-writer.js";
import { CheckpointWriteError } from "../../src/checkpoint/errors.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { Trainer } from "../../src/train/trainer.js";
import type { ZeroStage } from "../../src/zero/memory-accounting.js";
import { tinyTrain, tokenRows } from "../model/tiny.js";
import { LocalGroup } from "../train/local-group.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempRoot = () => {
  const d = mkdtempSync(join(tmpdir(), "zero-ckpt-"));
  dirs.push(d);
  return d;
};

const FP = "sha256:0123";
const fields = (step: number, worldSize: number): CheckpointFields => ({
  tokensSeen: step * 64,
  worldSize,
  configHash: "c0ffee",
  datasetFingerprint: FP,
  dataState: stateAt(step, { jobUid: "job", attempt: 1, fingerprint: FP, seed: 3, samplesPerEpoch: 1000, globalBatch: 4, worldSize, contextLength: 8, anchor: { step: 0, consumedSamples: 0 } }),
});
const bytesOf = (arrays: readonly NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));

function world(n: number, stage: ZeroStage): Trainer[] {
  const group = new LocalGroup(n);
  const config = tinyTrain({ globalBatchSize: 4, microBatchSize: 4 / n, memory: { zeroStage: stage, gradientCheckpointing: "none" } });
  return Array.from({ length: n }, (_, r) => new Trainer(config, group.rank(r)));
}
async function run(ranks: Trainer[], from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  const per = 4 / ranks.length;
  for (let s = from; s < to; s++) {
    const rows = tokenRows(4, 8, 64, 700 + s);
    losses.push((await Promise.all(ranks.map((t, r) => t.step(s, rows.slice(per * r, per * (r + 1))))))[0] as number);
  }
  return losses;
}

/** What runTrainingJob does at a checkpoint under ZeRO: every rank its shard, rank 0 the manifest. */
async function save(ranks: Trainer[], writers: CheckpointWriter[], step: number, saveId: string, skipRank?: number) {
  const stage = (ranks[0] as Trainer).memory.zeroStage as 1 | 2 | 3;
  const shards = await Promise.all(ranks.map((t) => t.exportShard()));
  const n = ranks.length;
  const others = ranks.slice(1).map((_, i) => (i + 1 === skipRank ? Promise.resolve() : (writers[i + 1] as CheckpointWriter).saveShard({ step, rank: i + 1, worldSize: n, saveId, shard: shards[i + 1] as (typeof shards)[number] })));
  const r0 = ranks[0] as Trainer;
  const committed = (writers[0] as CheckpointWriter).save({
    step,
    weights: stage === 3 ? [] : await r0.exportParams(),
    optimizer: [],
    ...fields(step, n),
    sharding: { zeroStage: stage, worldSize: n, saveId, tensors: r0.objective.trainable, ranges: r0.shardParamRanges(), own: shards[0] as (typeof shards)[number], paramsSharded: stage === 3 },
  });
  await Promise.all(others);
  return committed;
}

describe.each([1, 3] as const)("ZeRO-%i checkpoints", (stage) => {
  it("each rank writes its shard; the reader assembles the full state; resume is bitwise, and re-shards to 4 ranks", async () => {
    const root = tempRoot();
    const store = new FileCheckpointStore(root);
    const straight = world(2, stage);
    const expected = await run(straight, 0, 3);
    const final = await Promise.all(straight.map((t) => t.exportState()));

    const first = world(2, stage);
    await run(first, 0, 2);
    const full = await Promise.all(first.map((t) => t.exportState()));
    const writers = first.map(() => new CheckpointWriter(store, { codeVersion: "test" }));
    const c = await save(first, writers, 2, "attempt-1:2");
    expect(c.manifest.sharding?.shards.map((s) => s.file)).toEqual(["optimizer-rank-00000-of-00002.safetensors", "optimizer-rank-00001-of-00002.safetensors"]);
    const files = readdirSync(join(root, "step-00000002")).sort();
    expect(files.includes("model.safetensors")).toBe(stage !== 3);
    expect(files.includes("optimizer.safetensors")).toBe(false);
    first.forEach((t) => t.dispose());

    const loaded = await new CheckpointReader(store).latest();
    if (loaded === undefined) throw new Error("nothing committed");
    expect(bytesOf(loaded.weights).equals(bytesOf(full[0]?.params ?? []))).toBe(true);
    expect(bytesOf(loaded.optimizer).equals(bytesOf(full[0]?.optimizer ?? []))).toBe(true);

    const resumed = world(2, stage);
    for (const t of resumed) t.importState({ params: loaded.weights, optimizer: loaded.optimizer });
    expect(await run(resumed, 2, 3)).toEqual(expected.slice(2));
    const after = await Promise.all(resumed.map((t) => t.exportState()));
    expect(bytesOf(after[0]?.params ?? []).equals(bytesOf(final[0]?.params ?? []))).toBe(true);
    expect(bytesOf(after[0]?.optimizer ?? []).equals(bytesOf(final[0]?.optimizer ?? []))).toBe(true);

    const four = world(4, 2);
    for (const t of four) t.importState({ params: loaded.weights, optimizer: loaded.optimizer });
    const back = await Promise.all(four.map((t) => t.exportState()));
    expect(bytesOf(back[3]?.optimizer ?? []).equals(bytesOf(loaded.optimizer))).toBe(true);
    [...straight, ...resumed, ...four].forEach((t) => t.dispose());
  });
});

describe("a shard that never arrives", () => {
  it("fails the save after the receipt timeout, ignores a receipt of another save, and the reader keeps the previous checkpoint", async () => {
    const root = tempRoot();
    const store = new FileCheckpointStore(root);
    const ranks = world(2, 2);
    await run(ranks, 0, 1);
    const writers = ranks.map(() => new CheckpointWriter(store, { codeVersion: "test", receiptPollMs: 10, receiptTimeoutMs: 300 }));
    await save(ranks, writers, 1, "a1:1");
    await run(ranks, 1, 2);
    // An older attempt's receipt for step 2 is on disk; this save's rank 1 never writes its own.
    await (writers[1] as CheckpointWriter).saveShard({ step: 2, rank: 1, worldSize: 2, saveId: "a0:2", shard: await (ranks[1] as Trainer).exportShard() });
    await expect(save(ranks, writers, 2, "a1:2", 1)).rejects.toBeInstanceOf(CheckpointWriteError);
    const latest = await new CheckpointReader(store).latest();
    expect(latest?.step).toBe(1);
    ranks.forEach((t) => t.dispose());
  });
});
