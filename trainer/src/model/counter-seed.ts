// Every random number the model draws is a pure function of counters, so nothing like an RNG state exists to save,
// restore or drift: a resumed run, a recomputed block or another rank draws exactly the same numbers.
import { hashWords } from "@gantry/dataloader";

/** Where in the model a dropout mask is drawn. */
export const DROPOUT_SITE = { embedding: 1, attention: 2, attentionResidual: 3, mlpResidual: 4 } as const;
export type DropoutSite = keyof typeof DROPOUT_SITE;

/** Identifies one forward pass: the optimizer step, the rank and the micro-batch within the step. */
export interface DropoutContext {
  baseSeed: number;
  step: number;
  rank: number;
  micro: number;
}

/** Seed of one dropout mask: hash(baseSeed, step, rank, micro, layer, site). The embedding uses layer = -1. */
export function dropoutSeed(ctx: DropoutContext, layer: number, site: DropoutSite): number {
  return hashWords(ctx.baseSeed, ctx.step, ctx.rank, ctx.micro, layer, DROPOUT_SITE[site]);
}

/** Seed of parameter `index` (its position in paramLayout) under training seed `seed`. */
export const paramSeed = (seed: number, index: number): number => hashWords(seed, 0x1a17, index);

const TWO_POW_32 = 4294967296;

/**
 * `n` standard normals, element k a pure function of (seed, k): Box–Muller on pairs of counter-hashed uniforms.
 * Computed in float64 and rounded once to float32.
 */
export function counterNormals(seed: number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let k = 0; 2 * k < n; k++) {
    const u1 = (hashWords(seed, k, 0) + 1) / TWO_POW_32; // (0, 1]: log is finite
    const u2 = hashWords(seed, k, 1) / TWO_POW_32;
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    out[2 * k] = r * Math.cos(2 * Math.PI * u2);
    if (2 * k + 1 < n) out[2 * k + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
