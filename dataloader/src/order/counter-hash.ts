// Counter-based hashing: the same words in give the same 32 bits out, with no generator state to save or replay.

/** lowbias32 (Chris Wellons): a strong 32-bit integer finalizer. */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hash of a tuple of 32-bit words; order matters. */
export function hashWords(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) h = mix32((h ^ mix32(w >>> 0)) + 0x632be5ab);
  return h;
}
