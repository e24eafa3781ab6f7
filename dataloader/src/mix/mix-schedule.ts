// Deterministic interleave of weighted streams: each draw goes to the stream furthest below its target share, so after
// n draws every stream's count is within one of weight·n, and the choice depends only on the counts so far. Resume
// therefore needs nothing but the per-stream counts.

/** Normalized, validated weights: positive, finite, at least one. */
export function normalizeWeights(weights: readonly number[]): number[] {
  if (weights.length === 0) throw new RangeError("a mix needs at least one stream");
  for (const w of weights) if (!(Number.isFinite(w) && w > 0)) throw new RangeError(`stream weights must be positive and finite, got ${w}`);
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

/** The stream the next draw takes, given how many each stream has given so far; ties go to the lowest index. */
export function nextStream(shares: readonly number[], counts: readonly number[]): number {
  const n = counts.reduce((a, b) => a + b, 0) + 1;
  let best = 0;
  let bestDeficit = -Infinity;
  for (let i = 0; i < shares.length; i++) {
    const deficit = (shares[i] ?? 0) * n - (counts[i] ?? 0);
    // A relative epsilon keeps float noise from breaking ties differently on equal shares.
    if (deficit > bestDeficit + 1e-9) {
      best = i;
      bestDeficit = deficit;
    }
  }
  return best;
}

/** The next `n` draws from `counts` on; returns the streams drawn and the counts after them (inputs untouched). */
export function drawStreams(shares: readonly number[], counts: readonly number[], n: number): { streams: number[]; counts: number[] } {
  const after = [...counts];
  const streams: number[] = [];
  for (let k = 0; k < n; k++) {
    const s = nextStream(shares, after);
    after[s] = (after[s] ?? 0) + 1;
    streams.push(s);
  }
  return { streams, counts: after };
}
