// Exact resume across a preemption under each ZeRO stage: each rank exports its own shard, the shards are put back
// together, a fresh world imports them and continues; the weights, moments and losses are the uninterrupted run's
// bit for bit. Loading at another world size or stage re-shards with equal values.
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { Trainer, type TrainerState } from "../../src/train/trainer.js";
import type { ZeroStage } from "../../src/zero/memory-accounting.js";
import { assembleShards, ShardAssemblyError } from "../../src/zero/shard-assembly.js";
import { flatLayout } from "../../src/zero/shard-layout.js";
import { paramLayout } from "../../src/model/param-layout.js";
import { tinyTrain, tokenRows, TINY } from "../model/tiny.js";
import { LocalGroup } from "../train/local-group.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

const bytesOf = (arrays: readonly NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));
const layout = flatLayout(paramLayout(TINY));

function world(n: number, stage: ZeroStage): Trainer[] {
  const group = new LocalGroup(n);
  const config = tinyTrain({ globalBatchSize: 4, microBatchSize: 4 / n, memory: { zeroStage: stage, gradientCheckpointing: stage === 3 ? "full" : "none" } }, { dropout: 0.1 });
  return Array.from({ length: n }, (_, r) => new Trainer(config, group.rank(r)));
}

async function run(ranks: Trainer[], from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  const per = 4 / ranks.length;
  for (let s = from; s < to; s++) {
    const rows = tokenRows(4, 8, 64, 300 + s);
    const out = await Promise.all(ranks.map((t, r) => t.step(s, rows.slice(per * r, per * (r + 1)))));
    losses.push(out[0] as number);
  }
  return losses;
}

/** What the sharded checkpoint holds: each rank's own shard; the weights from rank 0 unless ZeRO-3 sharded them. */
async function preempt(ranks: Trainer[]): Promise<TrainerState> {
  const shards = await Promise.all(ranks.map((t) => t.exportShard()));
  const assembled = assembleShards(layout, shards);
  const params = assembled.params ?? (await (ranks[0] as Trainer).exportParams());
  return { params, optimizer: assembled.optimizer };
}

describe.each([1, 2, 3] as const)("ZeRO-%i", (stage) => {
  it("resumes bitwise at the same world size", async () => {
    const straight = world(2, stage);
    const expected = [...(await run(straight, 0, 2)), ...(await run(straight, 2, 4))];
    const final = await Promise.all(straight.map((t) => t.exportState()));

    const first = world(2, stage);
    const before = await run(first, 0, 2);
    const saved = await preempt(first);
    first.forEach((t) => t.dispose());
    const resumed = world(2, stage);
    for (const t of resumed) t.importState(saved);
    expect(resumed.map((t) => t.optimizerSteps)).toEqual([2, 2]);
    const after = await run(resumed, 2, 4);
    expect([...before, ...after]).toEqual(expected);
    const got = await Promise.all(resumed.map((t) => t.exportState()));
    expect(bytesOf(got[0]?.params ?? []).equals(bytesOf(final[0]?.params ?? []))).toBe(true);
    expect(bytesOf(got[1]?.optimizer ?? []).equals(bytesOf(final[1]?.optimizer ?? []))).toBe(true);
    [...straight, ...resumed].forEach((t) => t.dispose());
  });

  it("re-shards on load at another world size and stage with equal values", async () => {
    const source = world(2, stage);
    await run(source, 0, 1);
    const saved = await preempt(source);
    source.forEach((t) => t.dispose());
    for (const [n, target] of [[4, stage === 3 ? 1 : 3], [1, 0]] as const) {
      const ranks = world(n, target);
      for (const t of ranks) t.importState(saved);
      const back = await Promise.all(ranks.map((t) => t.exportState()));
      for (const b of back) {
        expect(bytesOf(b.params).equals(bytesOf(saved.params))).toBe(true);
        expect(bytesOf(b.optimizer).equals(bytesOf(saved.optimizer))).toBe(true);
      }
      ranks.forEach((t) => t.dispose());
    }
  });
});

describe("shard assembly", () => {
  it("refuses gaps, overlaps and mixed steps, naming the shard", () => {
    const piece = (s: number, e: number, step = 1) => ({ range: [s, e] as const, m: new Float32Array(e - s), v: new Float32Array(e - s), step });
    const P = layout.params;
    expect(() => assembleShards(layout, [piece(0, 10), piece(12, P)])).toThrow(/elements \[10, 12\) are in no shard/);
    expect(() => assembleShards(layout, [piece(0, 10), piece(8, P)])).toThrow(ShardAssemblyError);
    expect(() => assembleShards(layout, [piece(0, 10), piece(10, P, 2)])).toThrow(/shard 1: at optimizer step 2/);
    expect(() => assembleShards(layout, [piece(0, 10)])).toThrow(/cover 10 of/);
  });
});
