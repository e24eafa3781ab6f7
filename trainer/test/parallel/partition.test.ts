// The cut of the model into tensor × pipeline shards: local shapes, every full element held by exactly one primary
// copy, and full → shards → full giving the same bytes for any layout (what re-sharding a checkpoint relies on), for
// parameters and AdamW state, through the model group's all-gather as a checkpoint does it.
import { describe, expect, it } from "vitest";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { initParams } from "../../src/model/init-params.js";
import type { ModelConfig } from "../../src/model/model-config.js";
import { parameterCount } from "../../src/model/param-layout.js";
import { consolidateState, modelGroupShards } from "../../src/parallel/consolidate.js";
import { parallelDegrees } from "../../src/parallel/layout.js";
import { PartitionError, assembleArrays, balancedRange, shardArrays, stageShard } from "../../src/parallel/partition.js";
import { TINY } from "../model/tiny.js";
import { localGrid } from "./local-grid.js";

const bytes = (arrays: readonly NamedArray[]) => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const configs: [string, ModelConfig][] = [
  ["MHA, tied, learned", TINY],
  ["GQA 2 of 4 heads, SwiGLU, rotary, untied, 3 layers", { ...TINY, kvHeads: 2, activation: "swiglu", positionalEncoding: "rotary", tieEmbeddings: false, layers: 3, vocabSize: 61, hidden: 90 }],
  ["MQA (K/V replicated over tensor ranks)", { ...TINY, kvHeads: 1 }],
];
const layouts: [number, number][] = [
  [1, 1],
  [2, 1],
  [1, 2],
  [2, 2],
  [4, 1],
  [4, 2],
  [1, 3],
];

describe("balancedRange", () => {
  it("splits n into nearly equal runs that cover it in order", () => {
    for (let n = 1; n <= 20; n++)
      for (let p = 1; p <= n; p++) {
        const runs = Array.from({ length: p }, (_, i) => balancedRange(n, p, i));
        expect(runs[0]?.[0]).toBe(0);
        expect(runs.at(-1)?.[1]).toBe(n);
        runs.forEach((r, i) => i > 0 && expect(r[0]).toBe(runs[i - 1]?.[1]));
        const widths = runs.map((r) => r[1] - r[0]);
        expect(Math.max(...widths) - Math.min(...widths)).toBeLessThanOrEqual(1);
      }
  });
});

describe.each(configs)("%s", (_name, config) => {
  it.each(layouts)("tp %i × pp %i: local shapes, one primary copy of every element, and full → shards → full", (tp, pp) => {
    if (pp > config.layers) {
      expect(() => stageShard(config, { tp, pp, tpRank: 0, stage: 0 })).toThrow(PartitionError);
      return;
    }
    const full = initParams(config, 3);
    const shards = [];
    for (let stage = 0; stage < pp; stage++) for (let tpRank = 0; tpRank < tp; tpRank++) shards.push(stageShard(config, { tp, pp, tpRank, stage }));
    const hd = config.dModel / config.heads;
    for (const s of shards) {
      const q = s.params.find((p) => p.name.endsWith("attn.q"));
      if (q !== undefined) expect(q.shape).toEqual([config.dModel, (config.heads / tp) * hd]);
      const o = s.params.find((p) => p.name.endsWith("attn.o"));
      if (o !== undefined) expect(o.shape).toEqual([(config.heads / tp) * hd, config.dModel]);
      const k = s.params.find((p) => p.name.endsWith("attn.k"));
      if (k !== undefined) expect(k.shape[1]).toBe(config.kvHeads % tp === 0 ? (config.kvHeads / tp) * hd : config.kvHeads * hd);
      const fc = s.params.find((p) => p.name.endsWith("mlp.fc"));
      if (fc !== undefined) expect(fc.shape[1]).toBe(s.hidden[1] - s.hidden[0]);
    }
    // The primaries hold the model exactly once.
    expect(shards.reduce((n, s) => n + s.params.filter((p) => p.primary).reduce((m, p) => m + size(p.shape), 0), 0)).toBe(parameterCount(config));
    const parts = shards.map((s) => shardArrays(s, full));
    expect(bytes(assembleArrays(config, shards, parts)).equals(bytes(full))).toBe(true);
    // Every stage but the first holds no embedding; the tied LM head's copy lives on the last stage only.
    const copies = shards.flatMap((s) => s.params.filter((p) => p.tiedCopy).map(() => s.place.stage));
    expect(copies).toEqual(config.tieEmbeddings && pp > 1 ? Array(tp).fill(pp - 1) : []);
  });
});

describe("checkpoint consolidation through the model group", () => {
  it.each([undefined, 100])("gathers TP 2 × PP 2 shards of parameters and AdamW state into the whole model's on the group's rank 0 (pieces of %s floats)", async (piece) => {
    const config = configs[1]?.[1] as ModelConfig;
    const d = parallelDegrees(4, 2, 2);
    const full = initParams(config, 5);
    const m = initParams(config, 6).map((a) => ({ ...a, name: `m.${a.name}` }));
    const v = initParams(config, 7).map((a) => ({ ...a, name: `v.${a.name}` }));
    const step = { name: "adamw.step", shape: [1], data: Int32Array.of(9) };
    const ranks = localGrid(d);
    const results = await Promise.all(
      ranks.map((r) => {
        const shard = modelGroupShards(config, d, r.rank)[r.model.rank];
        if (shard === undefined) throw new Error("no shard");
        return consolidateState(config, d, r.rank, r.model, { params: shardArrays(shard, full), optimizer: shardArrays(shard, [...m, ...v, step]) }, piece);
      }),
    );
    expect(results.slice(1).every((x) => x === undefined)).toBe(true);
    const got = results[0];
    if (got === undefined) throw new Error("rank 0 assembled nothing");
    expect(bytes(got.params).equals(bytes(full))).toBe(true);
    expect(got.optimizer.map((a) => a.name)).toEqual([...m, ...v, step].map((a) => a.name));
    expect(bytes(got.optimizer).equals(bytes([...m, ...v, step]))).toBe(true);
  });
});

describe("refusals", () => {
  it("names the field that cannot be split", () => {
    expect(() => stageShard(TINY, { tp: 3, pp: 1, tpRank: 0, stage: 0 })).toThrow(PartitionError);
    expect(() => stageShard(TINY, { tp: 3, pp: 1, tpRank: 0, stage: 0 })).toThrow("parallelism.tensorParallel");
    expect(() => stageShard(TINY, { tp: 1, pp: 3, tpRank: 0, stage: 0 })).toThrow("parallelism.pipelineParallel");
    expect(() => shardArrays(stageShard(TINY, { tp: 2, pp: 1, tpRank: 0, stage: 0 }), initParams(TINY, 1).slice(1))).toThrow("wte");
  });
});
