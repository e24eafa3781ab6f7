// Choosing tokens from logits, pure: temperature, top-k and top-p (nucleus) shape a distribution; a uniform draw picks
// from it. Draws are counter-based (a hash of seed, position and purpose), so a seeded run reproduces on any backend.
import { hashWords } from "@gantry/dataloader";
import { DecodingOptionError } from "./errors.js";

export interface SamplingOptions {
  /** 0: greedy (the distribution is one-hot on the argmax). */
  temperature: number;
  /** Keep the k most likely tokens; 0 or undefined keeps all. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 or undefined keeps all. */
  topP?: number;
}

/** What a draw decides: its own stream of uniforms, so e.g. a draft's sample and an acceptance test never share one. */
export const DRAW = { sample: 0x5a3e, draft: 0x5a3f, accept: 0x5a40, residual: 0x5a41 } as const;

/** Uniform in [0, 1) for (seed, position, purpose). */
export const uniformAt = (seed: number, position: number, purpose: number): number => hashWords(seed, purpose, position) / 4_294_967_296;

/** Index of the largest logit; the lowest index wins a tie. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

export function checkSampling(o: SamplingOptions): void {
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw new DecodingOptionError("temperature", o.temperature, "a finite number ≥ 0");
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) throw new DecodingOptionError("topK", o.topK, "an integer ≥ 0");
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new DecodingOptionError("topP", o.topP, "a number in (0, 1]");
}

/** The sampling distribution over the vocabulary (float64, sums to 1; excluded tokens are exactly 0). */
export function tokenDistribution(logits: ArrayLike<number>, o: SamplingOptions): Float64Array {
  const out = new Float64Array(logits.length);
  if (o.temperature === 0) {
    out[argmax(logits)] = 1;
    return out;
  }
  const best = logits[argmax(logits)] as number;
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += out[i] = Math.exp(((logits[i] as number) - best) / o.temperature);
  for (let i = 0; i < out.length; i++) (out[i] as number) /= total;
  const k = o.topK ?? 0;
  const p = o.topP ?? 1;
  if ((k > 0 && k < out.length) || p < 1) {
    const order = Array.from(out.keys()).sort((a, b) => (out[b] as number) - (out[a] as number) || a - b);
    let kept = k > 0 ? Math.min(k, order.length) : order.length;
    if (p < 1) {
      let mass = 0;
      for (let j = 0; j < kept; j++) {
        mass += out[order[j] as number] as number;
        if (mass >= p) {
          kept = j + 1;
          break;
        }
      }
    }
    for (let j = kept; j < order.length; j++) out[order[j] as number] = 0;
    let sum = 0;
    for (const v of out) sum += v;
    for (let i = 0; i < out.length; i++) (out[i] as number) /= sum;
  }
  return out;
}

/** Inverse-CDF draw: the first index whose cumulative probability exceeds u · total (total normalises `weights`). */
export function drawFrom(weights: ArrayLike<number>, u: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i] as number;
  let r = u * total;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] as number;
    if (w <= 0) continue;
    last = i;
    r -= w;
    if (r < 0) return i;
  }
  return last;
}
