// Constant inputs of attention, computed as plain arrays: the causal mask and the rotary angles. Memoised because
// they depend only on the shape; the tensors made from them live inside one forward pass.

const maskCache = new Map<string, Float32Array>();
const ropeCache = new Map<string, { cos: Float32Array; sin: Float32Array }>();

/** Additive mask big enough that masked scores vanish in softmax, small enough to stay finite. */
export const MASKED = -1e9;

/**
 * Additive causal mask [groups·T, T]: row r is query position r mod T (rows of the `groups` query heads sharing one
 * KV head are stacked), 0 where the key position is ≤ the query's, MASKED after it.
 */
export function causalMask(groups: number, seqLen: number): Float32Array {
  const key = `${groups}x${seqLen}`;
  let m = maskCache.get(key);
  if (m === undefined) {
    m = new Float32Array(groups * seqLen * seqLen);
    for (let r = 0; r < groups * seqLen; r++) {
      const q = r % seqLen;
      for (let k = q + 1; k < seqLen; k++) m[r * seqLen + k] = MASKED;
    }
    maskCache.set(key, m);
  }
  return m;
}

export const ROPE_BASE = 10000;

/**
 * Rotary angles [T, hd] in the rotate-half layout (GPT-NeoX, Llama in transformers): column j and j + hd/2 share
 * frequency base^(-2j/hd).
 */
export function rotaryTables(seqLen: number, headDim: number): { cos: Float32Array; sin: Float32Array } {
  const key = `${seqLen}x${headDim}`;
  let t = ropeCache.get(key);
  if (t === undefined) {
    const half = headDim / 2;
    const cos = new Float32Array(seqLen * headDim);
    const sin = new Float32Array(seqLen * headDim);
    for (let p = 0; p < seqLen; p++) {
      for (let j = 0; j < half; j++) {
        const angle = p * Math.pow(ROPE_BASE, (-2 * j) / headDim);
        for (const col of [j, j + half]) {
          cos[p * headDim + col] = Math.cos(angle);
          sin[p * headDim + col] = Math.sin(angle);
        }
      }
    }
    t = { cos, sin };
    ropeCache.set(key, t);
  }
  return t;
}
