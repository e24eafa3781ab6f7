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
import { assembleArrays, stageShard } from "../../src/parallel/partition.js";
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
  gradNorms: number[];
  /** Validation loss of a held-out batch after training. */
  evalLoss: number;
  params: NamedArray[];
  optimizer: NamedArray[];
  /** Every rank's own tensors (grid runs). */
  perRank?: NamedArray[][];
}

const batch = (s: number, config: TrainConfig) => tokenRows(config.globalBatchSize, config.model.contextLength, config.model.vocabSize, 90 + s);

const held = (config: TrainConfig) => tokenRows(4, config.model.contextLength, config.model.vocabSize, 999);

async function single(config: TrainConfig): Promise<Run> {
  const t = new Trainer(config, new SoloCollective());
  const losses: number[] = [];
  const gradNorms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const st = await t.stepWithStats(s, batch(s, config));
    losses.push(st.loss);
    gradNorms.push(st.gradNorm);
  }
  const evalLoss = await t.evaluate(held(config));
  const state = await t.exportState();
  t.dispose();
  return { losses, gradNorms, evalLoss, ...state };
}

export async function grid(config: TrainConfig, d: ParallelDegrees, options: ModelParallelOptions): Promise<Run> {
  const ranks = localGrid(d);
  const objectives = ranks.map((r) => new ModelParallelObjective(config.model, { tp: d.tp, pp: d.pp, tpRank: r.coords.tp, stage: r.coords.pp }, r, options));
  const trainers = ranks.map((r, i) => new Trainer(config, r.data, { objective: objectives[i] as ModelParallelObjective }));
  const losses: number[] = [];
  const gradNorms: number[] = [];
  const global = config.globalBatchSize;
  for (let s = 0; s < STEPS; s++) {
    const rows = batch(s, config);
    const per = global / d.dp;
    const out = await Promise.all(trainers.map((t, i) => t.stepWithStats(s, rows.slice(per * (ranks[i]?.coords.dp ?? 0), per * ((ranks[i]?.coords.dp ?? 0) + 1)))));
    expect(new Set(out.map((o) => o.loss)).size, "every rank reports the same loss").toBe(1);
    expect(new Set(out.map((o) => o.gradNorm)).size, "every rank reports the same gradient norm").toBe(1);
    losses.push(out[0]?.loss as number);
    gradNorms.push(out[0]?.gradNorm as number);
  }
  const evals = await Promise.all(trainers.map((t) => t.evaluate(held(config))));
  expect(new Set(evals).size, "every rank reports the same validation loss").toBe(1);
  const states = await Promise.all(trainers.map((t) => t.exportState()));
  const model = ranks.flatMap((r, i) => (r.coords.dp === 0 ? [i] : []));
  const shards = model.map((i) => (objectives[i] as ModelParallelObjective).shard);
  const params = assembleArrays(config.model, shards, model.map((i) => states[i]?.params ?? []));
  const optimizer = assembleArrays(config.model, shards, model.map((i) => states[i]?.optimizer ?? []));
  trainers.forEach((t) => t.dispose());
  return { losses, gradNorms, evalLoss: evals[0] as number, params, optimizer, perRank: states.map((st) => st.params) };
}

const bytes = (arrays: readonly NamedArray[]) => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));

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

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

const expectClose = (got: Run, want: Run) => {
  got.losses.forEach((l, i) => expect(relative(l, want.losses[i] as number)).toBeLessThan(1e-5));
  // Above gradClipNorm (1) the norm sets the clip factor: a wrong weighting of replicas would show here first.
  got.gradNorms.forEach((n, i) => expect(relative(n, want.gradNorms[i] as number)).toBeLessThan(1e-4));
  expect(relative(got.evalLoss, want.evalLoss)).toBeLessThan(1e-5);
  expect(maxDiff(got.params, want.params)).toBeLessThan(2e-5);
  expect(maxDiff(got.optimizer.filter((a) => a.name.startsWith("m.")), want.optimizer.filter((a) => a.name.startsWith("m.")))).toBeLessThan(1e-5);
};

const cases: [string, number, number, number, Partial<ModelConfig>][] = [
  ["TP 2", 2, 2, 1, {}],
  ["PP 2", 2, 1, 2, {}],
  ["DP 2 × TP 2", 4, 2, 1, {}],
  ["PP 2 × TP 2", 4, 2, 2, {}],
  ["TP 2, MQA (K/V replicated), SwiGLU, rotary, untied", 2, 2, 1, { kvHeads: 1, activation: "swiglu", positionalEncoding: "rotary", tieEmbeddings: false }],
  ["TP 2 × PP 2, GQA split, 3 layers on uneven stages", 4, 2, 2, { kvHeads: 2, layers: 3 }],
  ["TP 4, GQA 2 KV heads replicated (one query head a rank)", 4, 4, 1, { kvHeads: 2 }],
  ["TP 2 × PP 2, untied LM head, uneven vocabulary (61) and MLP (90) splits", 4, 2, 2, { tieEmbeddings: false, vocabSize: 61, hidden: 90 }],
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

describe("three or more data-parallel ranks", () => {
  // The data group's all-reduce sums an element in an order set by its offset in the rank's flat buffer; a replica's
  // offsets differ between ranks, and three addends round differently in another order. syncReplicas re-copies them.
  const sameReplicas = (config: TrainConfig, run: Run, d: ParallelDegrees) => {
    const ranks = localGrid(d);
    const byRank = run.perRank ?? [];
    const at = (dp: number, tp: number, pp: number) => new Map((byRank[ranks.find((x) => x.coords.dp === dp && x.coords.tp === tp && x.coords.pp === pp)?.rank ?? -1] ?? []).map((a) => [a.name, a]));
    let checked = 0;
    for (const r of ranks) {
      const { dp, tp, pp } = r.coords;
      const mine = at(dp, tp, pp);
      // Tensors every tensor rank holds whole: tensor rank 0's copy.
      const primary = at(dp, 0, pp);
      for (const p of stageShard(config.model, { tp: d.tp, pp: d.pp, tpRank: tp, stage: pp }).params) {
        if (p.slice !== undefined) continue;
        expect(bytes([mine.get(p.name) as NamedArray]).equals(bytes([primary.get(p.name) as NamedArray])), `${p.name} on rank ${r.rank}`).toBe(true);
        checked++;
      }
      // The last stage's tied copy of wte is stage 0's.
      if (pp === d.pp - 1 && d.pp > 1) {
        expect(bytes([mine.get("wte") as NamedArray]).equals(bytes([at(dp, tp, 0).get("wte") as NamedArray])), `tied copy on rank ${r.rank}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  };

  it.each([
    ["DP 3 × TP 2, uneven vocabulary and MLP splits", 2, 1],
    ["DP 3 × PP 2, tied embeddings", 1, 2],
  ] as const)("%s: equals one rank, and every replica is bitwise its primary", async (_name, tp, pp) => {
    const config = tinyTrain({ globalBatchSize: 6, microBatchSize: 1 }, { vocabSize: 61, hidden: 90 });
    const d = parallelDegrees(3 * tp * pp, tp, pp);
    const got = await grid(config, d, { schedule: "1f1b", gradientCheckpointing: "none" });
    expectClose(got, await single(config));
    sameReplicas(config, got, d);
  });
});

describe("schedules and recomputation", () => {
  it("GPipe and 1F1B give the same bytes, dropout included; full and selective recomputation change nothing", async () => {
    const config = tinyTrain({ globalBatchSize: GLOBAL, microBatchSize: 1 }, { dropout: 0.1 });
    const d = parallelDegrees(4, 2, 2);
    const a = await grid(config, d, { schedule: "1f1b", gradientCheckpointing: "none" });
    for (const [schedule, mode] of [
      ["gpipe", "none"],
      ["gpipe", "full"],
      ["1f1b", "selective"],
    ] as const) {
      const b = await grid(config, d, { schedule, gradientCheckpointing: mode });
      expect(b.losses, `${schedule} ${mode}`).toEqual(a.losses);
      expect(maxDiff(b.params, a.params), `${schedule} ${mode}`).toBe(0);
    }
  });
});
