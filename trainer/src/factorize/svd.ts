// Singular value decomposition by one-sided Jacobi (Hestenes 1958) in Float64: plane rotations applied to the
// columns of A until every pair is orthogonal; then the column norms are the singular values. It works on A itself,
// not on AᵀA, so small singular values keep their accuracy, and it is a few dozen lines with no package.

export interface Svd {
  /** A is m × n; k = min(m, n). */
  m: number;
  n: number;
  k: number;
  /** Left singular vectors, m × k row-major. */
  u: Float64Array;
  /** Singular values, k, descending. */
  s: Float64Array;
  /** Right singular vectors, n × k row-major: A = U · diag(s) · Vᵀ. */
  v: Float64Array;
  /** Sweeps until no pair needed a rotation. */
  sweeps: number;
}

export interface SvdOptions {
  /** A pair counts as orthogonal when |a_p·a_q| ≤ tolerance · ‖a_p‖‖a_q‖ (default 1e-12). */
  tolerance?: number;
  maxSweeps?: number;
}

export class SvdConvergenceError extends Error {
  constructor(
    readonly m: number,
    readonly n: number,
    readonly sweeps: number,
  ) {
    super(`SVD of a ${m} × ${n} matrix did not converge in ${sweeps} Jacobi sweeps`);
    this.name = "SvdConvergenceError";
  }
}

/** The thin SVD of the m × n row-major matrix `a`. */
export function svd(a: ArrayLike<number>, m: number, n: number, options: SvdOptions = {}): Svd {
  if (a.length !== m * n) throw new RangeError(`SVD input holds ${a.length} values, not ${m} × ${n}`);
  if (m < n) {
    // Rotate the shorter side: decompose Aᵀ = V Σ Uᵀ and swap.
    const t = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j] as number;
    const r = svd(t, n, m, options);
    return { m, n, k: r.k, u: r.v, s: r.s, v: r.u, sweeps: r.sweeps };
  }
  const tol = options.tolerance ?? 1e-12;
  const maxSweeps = options.maxSweeps ?? 60;
  // Columns of A and of V, each contiguous, so a rotation is two tight loops.
  const cols = Array.from({ length: n }, (_, j) => {
    const c = new Float64Array(m);
    for (let i = 0; i < m; i++) c[i] = a[i * n + j] as number;
    return c;
  });
  const vcols = Array.from({ length: n }, (_, j) => {
    const c = new Float64Array(n);
    c[j] = 1;
    return c;
  });
  const dot = (x: Float64Array, y: Float64Array) => {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += (x[i] as number) * (y[i] as number);
    return s;
  };
  const rotate = (x: Float64Array, y: Float64Array, c: number, s: number) => {
    for (let i = 0; i < x.length; i++) {
      const xi = x[i] as number;
      const yi = y[i] as number;
      x[i] = c * xi - s * yi;
      y[i] = s * xi + c * yi;
    }
  };
  let sweeps = 0;
  for (let rotated = true; rotated; ) {
    if (sweeps === maxSweeps) throw new SvdConvergenceError(m, n, sweeps);
    sweeps++;
    rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const cp = cols[p] as Float64Array;
        const cq = cols[q] as Float64Array;
        const alpha = dot(cp, cp);
        const beta = dot(cq, cq);
        const gamma = dot(cp, cq);
        if (gamma === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) entry of AᵀA (Golub & Van Loan, symmetric Schur).
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(cp, cq, c, s);
        rotate(vcols[p] as Float64Array, vcols[q] as Float64Array, c, s);
      }
    }
  }
  const norms = cols.map((c) => Math.sqrt(dot(c, c)));
  const order = norms.map((_, j) => j).sort((x, y) => (norms[y] as number) - (norms[x] as number) || x - y);
  const k = n;
  const u = new Float64Array(m * k);
  const s = new Float64Array(k);
  const v = new Float64Array(n * k);
  order.forEach((j, col) => {
    const sigma = norms[j] as number;
    s[col] = sigma;
    const cj = cols[j] as Float64Array;
    const vj = vcols[j] as Float64Array;
    // A zero singular value leaves its left vector zero: it multiplies nothing.
    if (sigma > 0) for (let i = 0; i < m; i++) u[i * k + col] = (cj[i] as number) / sigma;
    for (let i = 0; i < n; i++) v[i * k + col] = vj[i] as number;
  });
  return { m, n, k, u, s, v, sweeps };
}

/** sqrt(Σ_{i ≥ r} σ_i²): by Eckart–Young, the Frobenius error of the best rank-r approximation. */
export function tailNorm(s: ArrayLike<number>, rank: number): number {
  let sum = 0;
  for (let i = rank; i < s.length; i++) sum += (s[i] as number) ** 2;
  return Math.sqrt(sum);
}

export interface LowRankFactors {
  /** m × r row-major: U_r · sqrt(Σ_r). */
  a: Float32Array;
  /** r × n row-major: sqrt(Σ_r) · V_rᵀ. */
  b: Float32Array;
  rank: number;
}

/** The rank-r truncation as two factors with A·B ≈ the input; the singular values are split evenly between them. */
export function lowRankFactors(d: Svd, rank: number): LowRankFactors {
  if (!Number.isInteger(rank) || rank < 1 || rank > d.k) throw new RangeError(`rank ${rank} is outside [1, ${d.k}] for a ${d.m} × ${d.n} matrix`);
  const a = new Float32Array(d.m * rank);
  const b = new Float32Array(rank * d.n);
  for (let c = 0; c < rank; c++) {
    const root = Math.sqrt(d.s[c] as number);
    for (let i = 0; i < d.m; i++) a[i * rank + c] = (d.u[i * d.k + c] as number) * root;
    for (let j = 0; j < d.n; j++) b[c * d.n + j] = (d.v[j * d.k + c] as number) * root;
  }
  return { a, b, rank };
}

/** ‖W − A·B‖_F in Float64, for W m × n, A m × r, B r × n (row-major). */
export function reconstructionError(w: ArrayLike<number>, f: LowRankFactors, m: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let x = 0;
      for (let c = 0; c < f.rank; c++) x += (f.a[i * f.rank + c] as number) * (f.b[c * n + j] as number);
      sum += ((w[i * n + j] as number) - x) ** 2;
    }
  }
  return Math.sqrt(sum);
}
