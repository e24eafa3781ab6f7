// The SVD and its truncation: exact at full rank, Eckart–Young's tail at lower rank, known singular values recovered.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lowRankFactors, reconstructionError, svd, tailNorm, type Svd } from "../../src/factorize/svd.js";

function lcg(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4_294_967_296 - 0.5;
  };
}

const randomMatrix = (m: number, n: number, seed: number) => Float64Array.from({ length: m * n }, lcg(seed));

/** An m × m orthogonal matrix (Gram–Schmidt of a random one), row-major. */
function orthogonal(m: number, seed: number): Float64Array {
  const r = lcg(seed);
  const cols: Float64Array[] = [];
  while (cols.length < m) {
    const c = Float64Array.from({ length: m }, r);
    for (const q of cols) {
      const d = c.reduce((s, x, i) => s + x * (q[i] as number), 0);
      c.forEach((x, i) => (c[i] = x - d * (q[i] as number)));
    }
    const norm = Math.hypot(...c);
    cols.push(c.map((x) => x / norm));
  }
  const out = new Float64Array(m * m);
  cols.forEach((c, j) => c.forEach((x, i) => (out[i * m + j] = x)));
  return out;
}

/** ‖A − U Σ Vᵀ‖_F at rank r, in Float64. */
function truncatedError(a: ArrayLike<number>, d: Svd, r: number): number {
  let sum = 0;
  for (let i = 0; i < d.m; i++) {
    for (let j = 0; j < d.n; j++) {
      let x = 0;
      for (let c = 0; c < r; c++) x += (d.u[i * d.k + c] as number) * (d.s[c] as number) * (d.v[j * d.k + c] as number);
      sum += ((a[i * d.n + j] as number) - x) ** 2;
    }
  }
  return Math.sqrt(sum);
}

/** max |XᵀX − I| for the k columns of an r × k matrix. */
function orthonormalityGap(x: Float64Array, rows: number, k: number): number {
  let gap = 0;
  for (let p = 0; p < k; p++) {
    for (let q = 0; q < k; q++) {
      let d = 0;
      for (let i = 0; i < rows; i++) d += (x[i * k + p] as number) * (x[i * k + q] as number);
      gap = Math.max(gap, Math.abs(d - (p === q ? 1 : 0)));
    }
  }
  return gap;
}

const frobenius = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

describe("svd", () => {
  it("recovers known singular values and orthonormal vectors, tall and wide", () => {
    const sigma = [5, 3, 2, 1, 0.5, 0.25];
    for (const [m, n] of [[8, 6], [6, 9]] as const) {
      const k = Math.min(m, n);
      const q1 = orthogonal(m, 3);
      const q2 = orthogonal(n, 4);
      // A = Q1[:, :k] diag(σ) Q2[:, :k]ᵀ
      const a = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let c = 0; c < k; c++) a[i * n + j] = (a[i * n + j] as number) + (q1[i * m + c] as number) * (sigma[c] as number) * (q2[j * n + c] as number);
      const d = svd(a, m, n);
      expect(d.k).toBe(k);
      Array.from(d.s).forEach((s, i) => expect(s).toBeCloseTo(sigma[i] as number, 12));
      expect(orthonormalityGap(d.u, m, k)).toBeLessThan(1e-12);
      expect(orthonormalityGap(d.v, n, k)).toBeLessThan(1e-12);
    }
  });

  it("at full rank reproduces the weights (Float64 exactly to 1e-12, the float32 factors to 1e-6)", () => {
    const [m, n] = [32, 128];
    const w = randomMatrix(m, n, 11);
    const d = svd(w, m, n);
    expect(truncatedError(w, d, d.k) / frobenius(w)).toBeLessThan(1e-12);
    const f = lowRankFactors(d, d.k);
    expect(reconstructionError(w, f, m, n) / frobenius(w)).toBeLessThan(1e-6);
  });

  it("at lower rank the Frobenius error is sqrt of the sum of the squared tail singular values", () => {
    const [m, n] = [48, 32];
    const w = randomMatrix(m, n, 12);
    const d = svd(w, m, n);
    for (const r of [1, 4, 16, 31]) {
      const tail = tailNorm(d.s, r);
      expect(tail).toBeGreaterThan(0);
      expect(Math.abs(truncatedError(w, d, r) - tail) / tail).toBeLessThan(1e-10);
      expect(Math.abs(reconstructionError(w, lowRankFactors(d, r), m, n) - tail) / tail).toBeLessThan(1e-5);
    }
    // A rank that is not in [1, k] is refused.
    expect(() => lowRankFactors(d, 33)).toThrow(RangeError);
  });

  it("property: Σσ² = ‖A‖_F², σ descending and non-negative, for random small matrices", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 1e6 }), (m, n, seed) => {
        const a = randomMatrix(m, n, seed);
        const d = svd(a, m, n);
        const energy = Array.from(d.s).reduce((s, x) => s + x * x, 0);
        expect(Math.abs(energy - frobenius(a) ** 2)).toBeLessThan(1e-10);
        for (let i = 1; i < d.k; i++) expect(d.s[i]).toBeLessThanOrEqual(d.s[i - 1] as number);
        expect(truncatedError(a, d, d.k)).toBeLessThan(1e-10);
      }),
      { numRuns: 60 },
    );
  });

  it("handles a rank-deficient matrix: the extra singular values are zero", () => {
    // Rows 2 and 3 are multiples of row 1: rank 1.
    const a = Float64Array.from([1, 2, 3, 2, 4, 6, -1, -2, -3]);
    const d = svd(a, 3, 3);
    expect(d.s[0]).toBeCloseTo(Math.sqrt(14 * 6), 10);
    expect(d.s[1]).toBeLessThan(1e-12);
    expect(truncatedError(a, d, 1)).toBeLessThan(1e-12);
  });
});
