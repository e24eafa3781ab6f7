// Tensor, pipeline and data parallelism composed give a single rank's training: the same losses and final weights for
// the same global batch. Reductions run in another order (partial sums over tensor ranks, gradients summed per
// stage, the tied embedding's two shares summed after accumulation), so agreement is within float32 rounding:
// losses to 1e-5 relative, weights to 2e-5 and first moments to 1e-5 absolute after three AdamW steps.
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import type { ModelConfig } from "../../src/model/model-config.js";
import { parallelDegrees, type ParallelDegrees } from "../../src/parallel/layout.js";
import { ModelParallelObjective, type ModelParallelOptions } from "../../src/parallel/model-parallel-objective.js";
import { assembleArrays } from "../../src/parallel/partition.js";
import { Trainer } from "../../src/train/trainer.js";
import type { TrainConfig } from "../../src/train/train-config.js";
import { tinyTrain, tokenRows } from "../model/tiny.js";
import { SoloCollective } from "../../src/collective/collective.js";
import { localGrid } from "./local-grid.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

const STEPS = 3;
const GLOBAL = 8;

interface Run {
  losses: number[];
  params: NamedArray[];
  optimizer: NamedArray[];
}

const batch = (s: number, config: TrainConfig) => tokenRows(GLOBAL, config.model.contextLength, config.model.vocabSize, 90 + s);

async function single(config: TrainConfig): Promise<Run> {
  const t = new Trainer(config, new SoloCollective());
  const losses: number[] = [];
  for (let s = 0; s < STEPS; s++) losses.push(await t.step(s, batch(s, config)));
  const state = await t.exportState();
  t.dispose();
  return { losses, ...state };
}

export async function grid(config: TrainConfig, d: ParallelDegrees, options: ModelParallelOptions): Promise<Run> {
  const ranks = localGrid(d);
  const objectives = ranks.map((r) => new ModelParallelObjective(config.model, { tp: d.tp, pp: d.pp, tpRank: r.coords.tp, stage: r.coords.pp }, r, options));
  const trainers = ranks.map((r, i) => new Trainer(config, r.data, { objective: objectives[i] as ModelParallelObjective }));
  const losses: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const rows = batch(s, config);
    const per = GLOBAL / d.dp;
    const out = await Promise.all(trainers.map((t, i) => t.step(s, rows.slice(per * (ranks[i]?.coords.dp ?? 0), per * ((ranks[i]?.coords.dp ?? 0) + 1)))));
    expect(new Set(out).size, "every rank reports the same loss").toBe(1);
    losses.push(out[0] as number);
  }
  const states = await Promise.all(trainers.map((t) => t.exportState()));
  const model = ranks.flatMap((r, i) => (r.coords.dp === 0 ? [i] : []));
  const shards = model.map((i) => (objectives[i] as ModelParallelObjective).shard);
  const params = assembleArrays(config.model, shards, model.map((i) => states[i]?.params ?? []));
  const optimizer = assembleArrays(config.model, shards, model.map((i) => states[i]?.optimizer ?? []));
  trainers.forEach((t) => t.dispose());
  return { losses, params, optimizer };
}

function maxDiff(a: readonly NamedArray[], b: readonly NamedArray[]): number {
  expect(a.map((x) => x.name)).toEqual(b.map((x) => x.name));
  let d = 0;
  a.forEach((x, i) => {
    const y = b[i] as NamedArray;
    expect(x.shape, x.name).toEqual(y.shape);
    x.data.forEach((v, j) => (d = Math.max(d, Math.abs(v - (y.data[j] as number)))));
  });
  return d;
}

const expectClose = (got: Run, want: Run) => {
  got.losses.forEach((l, i) => expect(Math.abs(l - (want.losses[i] as number)) / Math.abs(want.losses[i] as number)).toBeLessThan(1e-5));
  expect(maxDiff(got.params, want.params)).toBeLessThan(2e-5);
  expect(maxDiff(got.optimizer.filter((a) => a.name.startsWith("m.")), want.optimizer.filter((a) => a.name.startsWith("m.")))).toBeLessThan(1e-5);
};

const cases: [string, number, number, number, Partial<ModelConfig>][] = [
  ["TP 2", 2, 2, 1, {}],
  ["PP 2", 2, 1, 2, {}],
  ["DP 2 × TP 2", 4, 2, 1, {}],
  ["PP 2 × TP 2", 4, 2, 2, {}],
  ["TP 2, MQA (K/V replicated), SwiGLU, rotary, untied", 2, 2, 1, { kvHeads: 1, activation: "swiglu", positionalEncoding: "rotary", tieEmbeddings: false }],
  ["TP 2 × PP 2, GQA split, 4 layers on uneven stages", 4, 2, 2, { kvHeads: 2, layers: 3 }],
];

describe.each(cases)("%s equals one rank", (_name, world, tp, pp, model) => {
  it("losses, weights and AdamW moments", async () => {
    const config = tinyTrain({ globalBatchSize: GLOBAL, microBatchSize: 2 }, model);
    const want = await single(config);
    const got = await grid(config, parallelDegrees(world, tp, pp), { schedule: "1f1b", gradientCheckpointing: "none" });
    expectClose(got, want);
  });
});

describe("ZeRO over the data-parallel group", () => {
  it.each([1, 2] as const)("DP 2 × TP 2 with ZeRO-%i equals one rank", async (stage) => {
    const config = tinyTrain({ globalBatchSize: GLOBAL, microBatchSize: 2, memory: { zeroStage: stage, gradientCheckpointing: "none", bucketElements: 500 } });
    const want = await single(tinyTrain({ globalBatchSize: GLOBAL, microBatchSize: 2 }));
    expectClose(await grid(config, parallelDegrees(4, 2, 1), { schedule: "1f1b", gradientCheckpointing: "none" }), want);
  });

  it("refuses ZeRO-3 with a split model", () => {
    const config = tinyTrain({ memory: { zeroStage: 3, gradientCheckpointing: "none" } });
    const [r] = localGrid(parallelDegrees(2, 2, 1));
    const objective = new ModelParallelObjective(config.model, { tp: 2, pp: 1, tpRank: 0, stage: 0 }, r as NonNullable<typeof r>, { schedule: "1f1b", gradientCheckpointing: "none" });
    expect(() => new Trainer(config, (r as NonNullable<typeof r>).data, { objective })).toThrow(/ZeRO-3.*stage 1 or 2/);
  });
});

describe("schedules and recomputation", () => {
  it("GPipe and 1F1B give the same bytes; full recomputation inside stages changes nothing", async () => {
    const config = tinyTrain({ globalBatchSize: GLOBAL, microBatchSize: 1 });
    const d = parallelDegrees(4, 2, 2);
    const a = await grid(config, d, { schedule: "1f1b", gradientCheckpointing: "none" });
    const b = await grid(config, d, { schedule: "gpipe", gradientCheckpointing: "none" });
    const c = await grid(config, d, { schedule: "gpipe", gradientCheckpointing: "full" });
    expect(b.losses).toEqual(a.losses);
    expect(maxDiff(b.params, a.params)).toBe(0);
    expect(c.losses).toEqual(a.losses);
    expect(maxDiff(c.params, a.params)).toBe(0);
  });
});
