// Global-norm gradient clipping, decided on the host from the reduced gradients (which every rank holds identically
// after the all-reduce, so every rank decides the same).

/** L2 norm over all arrays, accumulated in float64 in a fixed order. */
export function globalNorm(parts: readonly Float32Array[], scale = 1): number {
  let sum = 0;
  for (const p of parts) for (let i = 0; i < p.length; i++) sum += (p[i] as number) * (p[i] as number);
  return Math.sqrt(sum) * Math.abs(scale);
}

/** Factor that brings `norm` down to `maxNorm` (as torch.nn.utils.clip_grad_norm_); 1 when maxNorm is 0 (disabled). */
export function clipCoefficient(norm: number, maxNorm: number): number {
  if (maxNorm <= 0) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
