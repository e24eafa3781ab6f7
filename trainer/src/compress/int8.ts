// Per-channel symmetric int8 quantization, pure: each output channel c has scale s_c = max|W_c| / 127 and
// q = round(W / s_c) in [−127, 127], so |dequant − W| ≤ s_c / 2 for every element. For x·W with W [in, out] a
// channel is a column; for the token table [vocab, d] (also the tied LM head) it is a row.

export type ChannelAxis = "row" | "column";

export interface Int8Matrix {
  q: Int8Array;
  /** One scale per channel. */
  scales: Float32Array;
  rows: number;
  cols: number;
  axis: ChannelAxis;
}

export const INT8_MAX = 127;
const MIN_FLOAT32 = 1.401298464324817e-45;

export function quantizeInt8(w: Float32Array, rows: number, cols: number, axis: ChannelAxis): Int8Matrix {
  if (w.length !== rows * cols) throw new RangeError(`quantizeInt8: ${w.length} values for [${rows}, ${cols}]`);
  const channels = axis === "row" ? rows : cols;
  const channel = (r: number, c: number) => (axis === "row" ? r : c);
  const maxAbs = new Float32Array(channels);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) maxAbs[channel(r, c)] = Math.max(maxAbs[channel(r, c)] as number, Math.abs(w[r * cols + c] as number));
  // An all-zero channel keeps scale 1: its codes are 0 and dequantize to 0 exactly. A subnormal channel keeps the
  // smallest float32 scale, which its m / 127 would round below.
  const scales = Float32Array.from(maxAbs, (m) => (m > 0 ? Math.max(Math.fround(m / INT8_MAX), MIN_FLOAT32) : 1));
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = Math.round((w[r * cols + c] as number) / (scales[channel(r, c)] as number));
      q[r * cols + c] = Math.max(-INT8_MAX, Math.min(INT8_MAX, v));
    }
  }
  return { q, scales, rows, cols, axis };
}

export function dequantizeInt8(m: Int8Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) out[r * m.cols + c] = (m.q[r * m.cols + c] as number) * (m.scales[m.axis === "row" ? r : c] as number);
  return out;
}
