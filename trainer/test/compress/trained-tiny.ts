// A TINY model trained for a few dozen steps on a repetitive corpus, so perplexities mean something.
import { SoloCollective } from "../../src/collective/collective.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import type { ModelConfig } from "../../src/model/model-config.js";
import { Trainer } from "../../src/train/trainer.js";
import { tinyTrain } from "../model/tiny.js";

/** Rows of contextLength + 1 tokens from a noisy periodic sequence (learnable, not trivial). */
export function corpusRows(n: number, config: ModelConfig, offset = 0): Int32Array[] {
  return Array.from({ length: n }, (_, r) => Int32Array.from({ length: config.contextLength + 1 }, (_, j) => {
    const i = (r + offset) * 7 + j;
    return ((i * 5) % 23) + (i % 3 === 0 ? 24 : 0);
  }));
}

export async function trainedTiny(steps = 40): Promise<{ config: ModelConfig; arrays: NamedArray[] }> {
  const cfg = tinyTrain({ schedule: { type: "constant", peakLr: 1e-2, warmupSteps: 0, minLrRatio: 1, totalSteps: steps } });
  const trainer = new Trainer(cfg, new SoloCollective());
  for (let s = 0; s < steps; s++) await trainer.step(s, corpusRows(4, cfg.model, s * 4));
  const arrays = await trainer.exportParams();
  trainer.dispose();
  return { config: cfg.model, arrays };
}
