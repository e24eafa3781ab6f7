// bench-memory: ZeRO stage × gradient checkpointing for a ~10M-parameter GPT on 2 and 4 local ranks (in one process,
// a real TCP ring on loopback). Per rank: parameter, gradient and optimizer bytes (the trainer's accounting, checked
// against the formula), the activation peak of a step (tfjs bytes, one rank measured alone), tokens/s of the world,
// and bytes each rank wrote to the ring in one step against the theory (2Ψ·(N−1)/N·4 bytes for DP and ZeRO-1/2,
// 3Ψ·(N−1)/N·4 for ZeRO-3). Then the largest model that trains within a 1 GiB per-rank budget at each stage.
// Knobs: MEMORY_BENCH_LAYERS (12), MEMORY_BENCH_D (256), MEMORY_BENCH_SEQ (64), MEMORY_BENCH_WORLDS ("2,4").
import * as tf from "@tensorflow/tfjs-core";
import type {
  RingCollective} from "@gantry/trainer";
import {
  MemoryAddressBook,
  checkpointedObjective,
  importParams,
  initParams,
  toMicroBatches,
  Trainer,
  connectCollective,
  flatLayout,
  paramLayout,
  parameterCount,
  selectBackend,
  zeroMemory,
  type GradientCheckpointing,
  type ModelConfig,
  type TrainConfig,
  type ZeroStage,
} from "@gantry/trainer";
import { printResult, printTable, type Row } from "../table.js";
import { benchModel, benchTrainConfig, constantLr } from "../trainer-setup.js";

const LAYERS = Number(process.env["MEMORY_BENCH_LAYERS"] ?? 12);
const D = Number(process.env["MEMORY_BENCH_D"] ?? 256);
const SEQ = Number(process.env["MEMORY_BENCH_SEQ"] ?? 64);
const WORLDS = (process.env["MEMORY_BENCH_WORLDS"] ?? "2,4").split(",").map(Number);
const BUDGET = 1024 ** 3;
const MiB = 1024 * 1024;

const model = (d: number, layers: number): ModelConfig => benchModel({ vocabSize: 512, contextLength: SEQ, layers, dModel: d, heads: d / 32, hidden: 4 * d });

/** One micro-batch of one row per rank. */
const trainConfig = (world: number, zeroStage: ZeroStage, gradientCheckpointing: GradientCheckpointing): TrainConfig =>
  benchTrainConfig(model(D, LAYERS), world, { microBatchSize: 1, schedule: constantLr(100, 1), memory: { zeroStage, gradientCheckpointing } });

function rows(n: number, seed: number): Int32Array[] {
  let x = seed >>> 0;
  return Array.from({ length: n }, () =>
    Int32Array.from({ length: SEQ + 1 }, () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x % 512;
    }),
  );
}

const CONFIGS: [ZeroStage, GradientCheckpointing][] = [
  [0, "none"],
  [0, "selective"],
  [0, "full"],
  [1, "none"],
  [2, "none"],
  [3, "none"],
  [3, "full"],
];

/**
 * Activation bytes of one micro-batch's forward and backward: the tfjs peak during objective.gradients minus the
 * inputs and the gradients it returns (4Ψ, alive at the end in every mode). ZeRO-3 runs the full recomputation's
 * schedule and holds one gathered block on top (its bytes are added).
 */
async function activationPeak(mode: GradientCheckpointing, extraBytes = 0): Promise<number> {
  const cfg = trainConfig(1, 0, mode);
  const objective = checkpointedObjective(cfg.model, mode);
  const params = importParams(cfg.model, initParams(cfg.model, 1));
  const mb = toMicroBatches(rows(1, 10), 1, SEQ, 512)[0];
  if (mb === undefined) throw new Error("no micro-batch");
  const base = tf.memory().numBytes;
  const info = await tf.profile(() => {
    tf.dispose(tf.tidy(() => objective.gradients(params, mb, {}).grads));
  });
  tf.dispose(params);
  return info.peakBytes - base - 4 * parameterCount(cfg.model) + extraBytes;
}

async function ring(n: number): Promise<RingCollective[]> {
  const book = new MemoryAddressBook(`bench-memory-${n}-${Date.now()}`);
  return (await Promise.all(Array.from({ length: n }, (_, rank) => connectCollective({ rank, worldSize: n, book, advertiseHost: "127.0.0.1", peerTimeoutMs: 600_000 })))) as RingCollective[];
}

interface Measured {
  world: number;
  stage: ZeroStage;
  mode: GradientCheckpointing;
  params: number;
  grads: number;
  optimizer: number;
  activations: number;
  tokensPerSecond: number;
  sentBytes: number;
  theoryBytes: number;
  formulaOk: boolean;
}

async function measure(world: number, stage: ZeroStage, mode: GradientCheckpointing, activations: number): Promise<Measured> {
  const cfg = trainConfig(world, stage, mode);
  const psi = parameterCount(cfg.model);
  const collectives = await ring(world);
  const ranks = collectives.map((c) => new Trainer(cfg, c));
  const step = (s: number) => {
    const batch = rows(world, 100 + s);
    return Promise.all(ranks.map((t, r) => t.step(s, [batch[r] as Int32Array])));
  };
  // The kernels are warm from the activation runs; one step per configuration keeps the whole bench near 2 minutes.
  const before = collectives.map((c) => c.bytesSent);
  const start = performance.now();
  await step(0);
  const seconds = (performance.now() - start) / 1000;
  const sent = Math.max(...collectives.map((c, r) => c.bytesSent - (before[r] as number)));
  const live = ranks.map((t) => t.liveMemory());
  const formulaOk = ranks.every((t, r) => JSON.stringify(live[r]) === JSON.stringify(t.expectedMemory()));
  const worst = (k: "params" | "grads" | "optimizer") => Math.max(...live.map((m) => m[k]));
  ranks.forEach((t) => t.dispose());
  await Promise.all(collectives.map((c) => c.close()));
  const factor = stage === 3 ? 3 : 2;
  return {
    world,
    stage,
    mode,
    params: worst("params"),
    grads: worst("grads"),
    optimizer: worst("optimizer"),
    activations,
    tokensPerSecond: (world * SEQ) / seconds,
    sentBytes: sent,
    theoryBytes: (factor * psi * 4 * (world - 1)) / world,
    formulaOk,
  };
}

/** Largest width d (multiple of 64; L fixed) whose per-rank state plus activations fit `BUDGET`. */
function largestFit(world: number, stage: ZeroStage, mode: GradientCheckpointing, bytesPerLayerToken: { none: number; full: number }): { d: number; params: number } {
  let best = { d: 0, params: 0 };
  for (let d = 64; d <= 8192; d += 64) {
    const m = model(d, LAYERS);
    const state = zeroMemory(flatLayout(paramLayout(m)), stage, world, 0).total;
    // Full recomputation (and ZeRO-3, which always runs that schedule) keeps L block inputs plus one block's
    // activations at a time; ZeRO-3 also holds one gathered block.
    const recompute = mode === "full" || stage === 3;
    const block = stage === 3 ? 4 * 12 * d * d : 0;
    const acts = recompute ? LAYERS * SEQ * d * bytesPerLayerToken.full + SEQ * d * bytesPerLayerToken.none + block : LAYERS * SEQ * d * bytesPerLayerToken.none;
    if (state + acts <= BUDGET) best = { d, params: parameterCount(m) };
  }
  return best;
}


async function main(): Promise<void> {
  const backend = await selectBackend({ order: ["wasm", "cpu"] });
  const psi = parameterCount(model(D, LAYERS));
  console.log(`bench-memory: ${(psi / 1e6).toFixed(2)}M parameters (L=${LAYERS}, d=${D}, T=${SEQ}, micro-batch 1 per rank), backend ${backend}, ranks in one process on a loopback ring`);
  const acts = new Map<string, number>();
  const blockBytes = 4 * paramLayout(model(D, LAYERS)).filter((p) => p.name.startsWith("h.0.")).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  const byMode = { none: await activationPeak("none"), selective: await activationPeak("selective"), full: await activationPeak("full") };
  for (const [stage, mode] of CONFIGS) acts.set(`${stage}/${mode}`, stage === 3 ? byMode.full + blockBytes : byMode[mode]);
  const results: Measured[] = [];
  for (const world of WORLDS) for (const [stage, mode] of CONFIGS) results.push(await measure(world, stage, mode, acts.get(`${stage}/${mode}`) ?? NaN));

  const table: Row[] = results.map((m) => ({
    ranks: m.world,
    zero: m.stage,
    recompute: m.mode,
    "params MiB": m.params / MiB,
    "grads MiB": m.grads / MiB,
    "optim MiB": m.optimizer / MiB,
    "acts MiB": m.activations / MiB,
    "total MiB": (m.params + m.grads + m.optimizer + m.activations) / MiB,
    "tokens/s": m.tokensPerSecond,
    "sent MiB/step": m.sentBytes / MiB,
    "theory MiB": m.theoryBytes / MiB,
    "sent/theory": m.sentBytes / m.theoryBytes,
  }));
  printTable("Per rank, one optimizer step (worst rank of the world; activations: tfjs peak of a micro-batch's forward+backward less its gradients; ZeRO-3 adds one gathered block)", table);

  const dpActs = acts.get("0/none") ?? NaN;
  const fullActs = acts.get("0/full") ?? NaN;
  const perLayerToken = { none: dpActs / (LAYERS * SEQ * D), full: fullActs / (LAYERS * SEQ * D) };
  const fits: Row[] = [];
  const fitFigures: Record<string, number> = {};
  for (const world of WORLDS) {
    for (const [stage, mode] of [[0, "none"], [1, "none"], [2, "none"], [3, "none"], [3, "full"]] as [ZeroStage, GradientCheckpointing][]) {
      const f = largestFit(world, stage, mode, perLayerToken);
      fits.push({ ranks: world, zero: stage, recompute: mode, "largest d": f.d, "parameters M": f.params / 1e6 });
      fitFigures[`n${world}_z${stage}_${mode}`] = f.params;
    }
  }
  printTable(`Largest model in ${BUDGET / 1024 ** 3} GiB per rank (L=${LAYERS}, T=${SEQ}, batch 1; state by the accounting formula, activations scaled from the measured bytes per layer·token·width)`, fits);

  const get = (w: number, s: ZeroStage, m: GradientCheckpointing) => results.find((r) => r.world === w && r.stage === s && r.mode === m);
  const meets: Record<string, boolean> = { accountingMatchesFormula: results.every((r) => r.formulaOk) };
  const ratios: Record<string, number> = {};
  for (const w of WORLDS) {
    const dp = get(w, 0, "none");
    const z1 = get(w, 1, "none");
    const z2 = get(w, 2, "none");
    const z3 = get(w, 3, "none");
    if (dp === undefined || z1 === undefined || z2 === undefined || z3 === undefined) continue;
    ratios[`n${w}_optimizerZ1OverDp`] = z1.optimizer / dp.optimizer;
    ratios[`n${w}_gradsZ2OverDp`] = z2.grads / dp.grads;
    ratios[`n${w}_paramsZ3OverDp`] = z3.params / dp.params;
    ratios[`n${w}_commZ3OverDp`] = z3.sentBytes / dp.sentBytes;
    ratios[`n${w}_commDpOverTheory`] = dp.sentBytes / dp.theoryBytes;
    ratios[`n${w}_commZ3OverTheory`] = z3.sentBytes / z3.theoryBytes;
    ratios[`n${w}_fitZ3FullOverDp`] = (fitFigures[`n${w}_z3_full`] ?? 0) / (fitFigures[`n${w}_z0_none`] ?? 1);
    const near = (x: number, want: number, tol: number) => Math.abs(x - want) <= tol * want;
    meets[`n${w}_optimizerShardIs1OverN`] = near(z1.optimizer / dp.optimizer, 1 / w, 0.01);
    meets[`n${w}_gradShardIs1OverN`] = near(z2.grads / dp.grads, 1 / w, 0.01);
    meets[`n${w}_paramShardIs1OverN`] = near(z3.params / dp.params, 1 / w, 0.01);
    meets[`n${w}_commZero3Is1_5xDp`] = near(z3.sentBytes / dp.sentBytes, 1.5, 0.1);
    meets[`n${w}_commWithin5PctOfTheory`] = near(dp.sentBytes / dp.theoryBytes, 1, 0.05) && near(z3.sentBytes / z3.theoryBytes, 1, 0.05);
    meets[`n${w}_zero3FullFitsNxDp`] = (ratios[`n${w}_fitZ3FullOverDp`] ?? 0) >= 0.8 * w;
  }
  ratios["activationsFullOverNone"] = fullActs / dpActs;
  ratios["activationsSelectiveOverNone"] = (acts.get("0/selective") ?? NaN) / dpActs;
  meets["fullRecomputeCutsActivations3x"] = dpActs / fullActs >= 3;
  printResult({
    bench: "memory",
    parameters: psi,
    backend,
    rows: results.map((r) => ({ ranks: r.world, zeroStage: r.stage, checkpointing: r.mode, paramsBytes: r.params, gradsBytes: r.grads, optimizerBytes: r.optimizer, activationBytes: r.activations, tokensPerSecond: Math.round(r.tokensPerSecond), sentBytes: r.sentBytes, theoryBytes: Math.round(r.theoryBytes) })),
    largestFit: fitFigures,
    ratios,
    meets,
  });
}

await main();
