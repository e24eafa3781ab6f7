// Trainer model throughput: tokens/s and FLOP/s of a full training step (forward, backward, AdamW) for the tiny
// preset and a ~10M-parameter config, on each backend this machine has, against the FLOP/s of a plain tf.matMul of
// the same model's shapes on the same backend in the same run (the practical ceiling).
import * as tf from "@tensorflow/tfjs-core";
import { printResult, printTable, type Row } from "../table.js";
import { selectBackend, type BackendName } from "../../trainer/src/backend/select-backend.js";
import { SoloCollective } from "../../trainer/src/collective/collective.js";
import type { ModelConfig } from "../../trainer/src/model/model-config.js";
import { flopsPerToken, parameterCount } from "../../trainer/src/model/param-layout.js";
import { Trainer } from "../../trainer/src/train/trainer.js";
import { benchModel, benchTrainConfig, constantLr, syntheticRows } from "../trainer-setup.js";

const BACKENDS = (process.env["BENCH_TRAINER_BACKENDS"] ?? "wasm,cpu").split(",") as BackendName[];
const CONFIGS: { name: string; model: ModelConfig; batch: number }[] = [
  {
    name: "tiny",
    model: benchModel({ vocabSize: 256, contextLength: 128, layers: 2, dModel: 128, heads: 4, hidden: 512 }),
    batch: 8,
  },
  {
    name: "small",
    model: benchModel({ vocabSize: 16384, contextLength: 128, layers: 8, dModel: 256, heads: 8, hidden: 1024 }),
    batch: 4,
  },
];
const STEPS = Number(process.env["BENCH_TRAINER_STEPS"] ?? 3);

async function stepSeconds(model: ModelConfig, batch: number): Promise<number> {
  const trainer = new Trainer(benchTrainConfig(model, batch, { schedule: constantLr(100) }), new SoloCollective());
  const data = syntheticRows(batch, model.contextLength, model.vocabSize);
  await trainer.step(0, data); // warm-up: kernel set-up, first allocations
  const t0 = performance.now();
  for (let s = 1; s <= STEPS; s++) await trainer.step(s, data);
  const seconds = (performance.now() - t0) / 1000 / STEPS;
  trainer.dispose();
  return seconds;
}

/** FLOP/s of x·W for the MLP's [B·T, d]×[d, hidden] and the LM head's [B·T, d]×[d, vocab]; the better one. */
async function matmulFlops(model: ModelConfig, batch: number): Promise<number> {
  const m = batch * model.contextLength;
  let best = 0;
  for (const n of [model.hidden, model.vocabSize]) {
    const a = tf.randomNormal([m, model.dModel], 0, 1, "float32", 1);
    const b = tf.randomNormal([model.dModel, n], 0, 1, "float32", 2);
    await tf.matMul(a, b).data(); // warm-up
    const reps = 5;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    }
    const seconds = (performance.now() - t0) / 1000 / reps;
    best = Math.max(best, (2 * m * model.dModel * n) / seconds);
    tf.dispose([a, b]);
  }
  return best;
}

const table: Row[] = [];
const figures: Record<string, Record<string, number>> = {};
for (const backend of BACKENDS) {
  await selectBackend({ order: [backend] });
  for (const c of CONFIGS) {
    // The cpu backend takes minutes per step of the small config; run it only when asked.
    if (backend === "cpu" && c.name === "small" && process.env["BENCH_TRAINER_CPU_SMALL"] !== "1") continue;
    console.error(`${backend} ${c.name}: measuring`);
    const seconds = await stepSeconds(c.model, c.batch);
    const tokens = c.batch * c.model.contextLength;
    const tokensPerSecond = tokens / seconds;
    const flops = flopsPerToken(c.model) * tokensPerSecond;
    const ceiling = await matmulFlops(c.model, c.batch);
    const key = `${backend}.${c.name}`;
    figures[key] = { params: parameterCount(c.model), stepSeconds: seconds, tokensPerSecond, gflops: flops / 1e9, matmulGflops: ceiling / 1e9, ratio: flops / ceiling };
    table.push({
      backend,
      config: c.name,
      params: parameterCount(c.model),
      "tokens/step": tokens,
      "step s": seconds,
      "tokens/s": tokensPerSecond,
      "model GFLOP/s": flops / 1e9,
      "matmul GFLOP/s": ceiling / 1e9,
      "model/matmul": flops / ceiling,
    });
  }
}

printTable(`Trainer step throughput (${STEPS} timed steps after one warm-up; FLOPs = 6N + 12·L·H·Q·T per token)`, table);
const wasmTiny = figures["wasm.tiny"]?.tokensPerSecond ?? 0;
const cpuTiny = figures["cpu.tiny"]?.tokensPerSecond ?? 0;
printResult({
  bench: "trainer-model",
  steps: STEPS,
  figures,
  wasmOverCpuTiny: cpuTiny > 0 ? wasmTiny / cpuTiny : 0,
  meets: {
    // Targets: the step is not dominated by overhead (≥ 10% of the matmul ceiling on wasm for the small model) and wasm beats cpu.
    wasmSmallAtLeast10PctOfMatmul: (figures["wasm.small"]?.ratio ?? 0) >= 0.1,
    wasmFasterThanCpu: wasmTiny > cpuTiny,
  },
});
