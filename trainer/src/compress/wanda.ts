// Wanda (Sun et al. 2023), pure: score each weight of x·W (W [in, out]) by |W_io| · ‖X_i‖₂, the norm over calibration
// tokens of input feature i, and zero the lowest-scoring ones of each output channel (a column here; a row of
// PyTorch's [out, in]). Unstructured: the same count per output; 2:4: two of every four consecutive inputs.

export type SparsityPattern = { kind: "unstructured"; sparsity: number } | { kind: "2:4" };

export interface PruneResult {
  weights: Float32Array;
  /** Zeroed entries per output channel. */
  prunedPerOutput: number[];
}

/** Entries of one output channel to prune at `sparsity`: floor(sparsity · in). */
export const prunedCount = (inputs: number, sparsity: number): number => Math.floor(sparsity * inputs + 1e-9);

export function wandaPrune(w: Float32Array, rows: number, cols: number, inputNorms: Float32Array, pattern: SparsityPattern): PruneResult {
  if (w.length !== rows * cols || inputNorms.length !== rows) throw new RangeError(`wandaPrune: W has ${w.length} values for [${rows}, ${cols}], ${inputNorms.length} input norms`);
  if (pattern.kind === "unstructured" && !(pattern.sparsity >= 0 && pattern.sparsity < 1)) throw new RangeError(`sparsity ${pattern.sparsity} is not in [0, 1)`);
  if (pattern.kind === "2:4" && rows % 4 !== 0) throw new RangeError(`2:4 sparsity needs inputs divisible by 4, got ${rows}`);
  const out = Float32Array.from(w);
  const prunedPerOutput: number[] = [];
  const score = (i: number, c: number) => Math.abs(w[i * cols + c] as number) * (inputNorms[i] as number);
  for (let c = 0; c < cols; c++) {
    // Lowest score first; ties by input index, so the choice is deterministic.
    const byScore = (idx: number[]) => idx.sort((a, b) => score(a, c) - score(b, c) || a - b);
    const drop: number[] = [];
    if (pattern.kind === "unstructured") drop.push(...byScore(Array.from({ length: rows }, (_, i) => i)).slice(0, prunedCount(rows, pattern.sparsity)));
    else for (let g = 0; g < rows; g += 4) drop.push(...byScore([g, g + 1, g + 2, g + 3]).slice(0, 2));
    for (const i of drop) out[i * cols + c] = 0;
    prunedPerOutput.push(drop.length);
  }
  return { weights: out, prunedPerOutput };
}
