// PEFT against full fine-tuning of the same model, measured side by side in one process: trainable parameters,
// optimizer state bytes, checkpoint bytes (both safetensors files, encoded), all-reduce payload bytes per step (what
// the Trainer hands its Collective), and training tokens/s (median step time over interleaved rounds, so every
// configuration sees the same machine load). LoRA r = 4, 8, 16 on q, v (the spec's default targets), r = 8 on all six
// targets, and bottleneck adapters. A second table counts the same figures for gpt2-small without training it.
// Knobs: BENCH_PEFT_BACKEND (wasm), BENCH_PEFT_ROUNDS (5), BENCH_PEFT_LAYERS/DMODEL (6/192).
import { resolveModelShape } from "@gantry/crds";
import { printResult, printTable, type Row } from "../table.js";
import { selectBackend, type BackendName } from "../../trainer/src/backend/select-backend.js";
import { CountingSoloCollective } from "../../trainer/src/collective/collective.js";
import { encodeSafetensors } from "../../trainer/src/checkpoint/safetensors.js";
import { initParams } from "../../trainer/src/model/init-params.js";
import type { ModelConfig } from "../../trainer/src/model/model-config.js";
import { parameterCount } from "../../trainer/src/model/param-layout.js";
import type { PeftConfig } from "../../trainer/src/peft/peft-config.js";
import { peftParameterCount } from "../../trainer/src/peft/peft-layout.js";
import { peftObjective, type PeftObjective } from "../../trainer/src/peft/peft-objective.js";
import { Trainer } from "../../trainer/src/train/trainer.js";
import { median } from "../stats.js";
import { benchModel, benchTrainConfig, syntheticRows } from "../trainer-setup.js";

const BACKEND = (process.env["BENCH_PEFT_BACKEND"] ?? "wasm") as BackendName;
const ROUNDS = Number(process.env["BENCH_PEFT_ROUNDS"] ?? 5);
const LAYERS = Number(process.env["BENCH_PEFT_LAYERS"] ?? 6);
const D = Number(process.env["BENCH_PEFT_DMODEL"] ?? 192);
const BATCH = 4;

const MODEL: ModelConfig = benchModel({ vocabSize: 4096, contextLength: 64, layers: LAYERS, dModel: D, heads: 6, hidden: 4 * D });

const lora = (rank: number, targets: ("q" | "k" | "v" | "o" | "up" | "down")[] = ["q", "v"]): PeftConfig => ({ method: "lora", rank, alpha: 2 * rank, dropout: 0, targets });
const VARIANTS: { name: string; peft?: PeftConfig }[] = [
  { name: "full fine-tuning" },
  { name: "LoRA r=4 (q,v)", peft: lora(4) },
  { name: "LoRA r=8 (q,v)", peft: lora(8) },
  { name: "LoRA r=16 (q,v)", peft: lora(16) },
  { name: "LoRA r=8 (all 6)", peft: lora(8, ["q", "k", "v", "o", "up", "down"]) },
  { name: "adapters m=16 (both)", peft: { method: "adapter", bottleneck: 16, placement: "both" } },
];


const TRAIN = benchTrainConfig(MODEL, BATCH, { optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } });

const batch = (step: number): Int32Array[] => syntheticRows(BATCH, MODEL.contextLength, MODEL.vocabSize, step * 131);

interface Measured {
  name: string;
  trainable: number;
  optimizerBytes: number;
  checkpointBytes: number;
  allReduceBytes: number;
  seconds: number[];
}

async function main(): Promise<void> {
  const backend = await selectBackend({ order: [BACKEND, "cpu"] });
  const base = initParams(MODEL, 7);
  const full = parameterCount(MODEL);
  const runs = VARIANTS.map((v) => {
    const collective = new CountingSoloCollective();
    const objective: PeftObjective | undefined = v.peft === undefined ? undefined : peftObjective(MODEL, v.peft, base);
    const trainer = new Trainer(TRAIN, collective, objective === undefined ? { params: base } : { objective });
    return { v, collective, objective, trainer, seconds: [] as number[] };
  });
  // Warm-up (kernel set-up, first allocations), then interleaved timed rounds.
  for (const r of runs) await r.trainer.step(0, batch(0));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const r of runs) {
      const t0 = performance.now();
      await r.trainer.step(round, batch(round));
      r.seconds.push((performance.now() - t0) / 1000);
    }
  }
  const measured: Measured[] = [];
  for (const r of runs) {
    const state = await r.trainer.exportState();
    const optimizerBytes = state.optimizer.reduce((n, a) => n + a.data.byteLength, 0);
    const checkpointBytes = encodeSafetensors(state.params).length + encodeSafetensors(state.optimizer).length;
    measured.push({
      name: r.v.name,
      trainable: state.params.reduce((n, a) => n + a.data.length, 0),
      optimizerBytes,
      checkpointBytes,
      allReduceBytes: 4 * (r.collective.floats.at(-1) ?? 0),
      seconds: r.seconds,
    });
  }
  const reference = measured[0] as Measured;
  const tokens = BATCH * MODEL.contextLength;
  const rows: Row[] = measured.map((m) => ({
    variant: m.name,
    trainable: m.trainable,
    "% of model": (100 * m.trainable) / full,
    "optimizer MB": m.optimizerBytes / 1e6,
    "checkpoint MB": m.checkpointBytes / 1e6,
    "all-reduce KB/step": m.allReduceBytes / 1e3,
    "tokens/s": tokens / median(m.seconds),
    "vs full": median(reference.seconds) / median(m.seconds),
  }));
  printTable(`PEFT vs full fine-tuning: ${(full / 1e6).toFixed(2)}M-parameter model (${LAYERS} layers, d=${D}, T=${MODEL.contextLength}, batch ${BATCH}), ${backend}, median of ${ROUNDS} interleaved steps`, rows);

  // The same counts for gpt2-small (124M), from the layouts alone.
  const shape = resolveModelShape({ preset: "gpt2-small" } as Parameters<typeof resolveModelShape>[0], "gpt2");
  const gpt2: ModelConfig = benchModel({ ...shape, hidden: 4 * shape.dModel });
  const gpt2Full = parameterCount(gpt2);
  const counted = VARIANTS.map((v) => {
    const n = v.peft === undefined ? gpt2Full : peftParameterCount(gpt2, v.peft);
    return { variant: v.name, trainable: n, "% of model": (100 * n) / gpt2Full, "optimizer MB": (8 * n) / 1e6, "all-reduce MB/step": (4 * n) / 1e6 };
  });
  printTable(`gpt2-small (${(gpt2Full / 1e6).toFixed(1)}M parameters), counted from the layouts`, counted);

  const byName = (name: string) => measured.find((m) => m.name === name) as Measured;
  const r8 = byName("LoRA r=8 (q,v)");
  const ratio = (m: Measured) => ({
    trainable: m.trainable / reference.trainable,
    optimizerBytes: m.optimizerBytes / reference.optimizerBytes,
    checkpointBytes: m.checkpointBytes / reference.checkpointBytes,
    allReduceBytes: m.allReduceBytes / reference.allReduceBytes,
    tokensPerSecond: median(reference.seconds) / median(m.seconds),
  });
  const lora8 = ratio(r8);
  for (const r of runs) {
    r.trainer.dispose();
    r.objective?.dispose();
  }
  printResult({
    bench: "peft",
    backend,
    model: { parameters: full, layers: LAYERS, dModel: D, contextLength: MODEL.contextLength, batch: BATCH },
    variants: measured.map((m) => ({
      name: m.name,
      trainable: m.trainable,
      optimizerBytes: m.optimizerBytes,
      checkpointBytes: m.checkpointBytes,
      allReduceBytesPerStep: m.allReduceBytes,
      tokensPerSecond: tokens / median(m.seconds),
      vsFull: ratio(m),
    })),
    gpt2Small: counted.map((c) => ({ name: c.variant, trainable: c.trainable, percent: c["% of model"] })),
    meets: {
      // LoRA's point: the trainable state, what is sent and what is saved shrink with r, not with the model.
      loraR8TrainableUnder2Percent: lora8.trainable < 0.02,
      loraR8OptimizerUnder2Percent: lora8.optimizerBytes < 0.02,
      loraR8CheckpointUnder2Percent: lora8.checkpointBytes < 0.02,
      loraR8AllReduceUnder2Percent: lora8.allReduceBytes < 0.02,
      // No base-weight gradients and no AdamW over the base: a LoRA step is not slower than a full one.
      loraR8NotSlowerThanFull: lora8.tokensPerSecond >= 1,
      gpt2SmallR8QvUnderQuarterPercent: ((counted[2]?.["% of model"] ?? 100) as number) < 0.25,
    },
  });
}

await main();
