// Global-norm gradient clipping, decided on the host from the reduced gradients (which every rank holds identically
// after the all-reduce, so every rank decides the same).

/** Σ x² over the arrays whose weight is not 0 (all when no weights), in float64, in array order. */
export function sumOfSquares(parts: readonly Float32Array[], weights?: readonly number[]): number {
  let sum = 0;
  parts.forEach((p, k) => {
    if (weights?.[k] === 0) return;
    for (let i = 0; i < p.length; i++) sum += (p[i] as number) * (p[i] as number);
  });
  return sum;
}

/** L2 norm over all arrays, accumulated in float64 in a fixed order. */
export function globalNorm(parts: readonly Float32Array[], scale = 1): number {
  return Math.sqrt(sumOfSquares(parts)) * Math.abs(scale);
}

/** Factor that brings `norm` down to `maxNorm` (as torch.nn.utils.clip_grad_norm_); 1 when maxNorm is 0 (disabled). */
export function clipCoefficient(norm: number, maxNorm: number): number {
  if (maxNorm <= 0) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
