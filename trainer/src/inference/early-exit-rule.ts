// The decision of confidence-based early exit, pure: after each block from minLayers on, the shared final LayerNorm
// and LM head read the residual stream; the token exits at the first layer whose top-1 probability (softmax at
// temperature 1, whatever the sampling temperature) exceeds the threshold. The last layer always "exits".
import type { ModelConfig } from "../model/model-config.js";
import { DecodingOptionError } from "./errors.js";

export interface EarlyExitRule {
  /** Exit when the top-1 probability is strictly above this: > 1 never exits early, 0 always exits at minLayers. */
  threshold: number;
  /** Blocks every token runs before it may exit (1 … layers). Default 1. */
  minLayers?: number;
}

/** The rule's minLayers, checked against the model. */
export function checkEarlyExit(config: ModelConfig, rule: EarlyExitRule): number {
  if (!(rule.threshold >= 0) || !Number.isFinite(rule.threshold)) throw new DecodingOptionError("threshold", rule.threshold, "a finite number ≥ 0 (above 1 never exits early)");
  const minLayers = rule.minLayers ?? 1;
  if (!Number.isInteger(minLayers) || minLayers < 1 || minLayers > config.layers) throw new DecodingOptionError("minLayers", minLayers, `an integer in [1, ${config.layers}]`);
  return minLayers;
}

/** max softmax(logits), computed stably in float64: 1 / Σ exp(l − max). */
export function topProbability(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  return 1 / sum;
}

/** Whether a token that has run `layersRun` blocks, whose head output has top-1 probability `confidence`, stops here. */
export function exitsAt(layersRun: number, confidence: number, layers: number, minLayers: number, threshold: number): boolean {
  return layersRun >= layers || (layersRun >= minLayers && confidence > threshold);
}

/** Mean of the layers used per token (0 for no tokens). */
export const meanLayers = (layersUsed: readonly number[]): number => (layersUsed.length === 0 ? 0 : layersUsed.reduce((s, l) => s + l, 0) / layersUsed.length);
