// Summaries of repeated timings: the median, which a shared, noisy 2-core machine disturbs least.

/** The upper median (the middle element for odd lengths); NaN for no samples. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
}
