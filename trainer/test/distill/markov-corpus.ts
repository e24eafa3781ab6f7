// A structured synthetic language for distillation tests: a first-order Markov chain over the vocabulary where each
// token has a few likely successors. A teacher trained on plenty of it knows the whole next-token distribution; a
// student shown a handful of sampled rows sees only one draw per position, which is what soft targets fix.

const SUCCESSOR_PROBS = [0.45, 0.3, 0.15, 0.1];

/** successors[t] = the tokens that may follow t (distinct, deterministic in `vocab`). */
export function successors(vocab: number): number[][] {
  return Array.from({ length: vocab }, (_, t) => SUCCESSOR_PROBS.map((_, k) => (t * 7 + k * 13 + 5) % vocab));
}

/** Entropy rate of the chain in nats: the lowest cross-entropy any model can reach on its held-out text. */
export const chainEntropy = (): number => -SUCCESSOR_PROBS.reduce((s, p) => s + p * Math.log(p), 0);

/** `n` rows of `seqLen + 1` tokens, a pure function of (vocab, seed). */
export function markovRows(n: number, seqLen: number, vocab: number, seed: number): Int32Array[] {
  const next = successors(vocab);
  let x = seed >>> 0 || 1;
  const u = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4_294_967_296;
  };
  const rows: Int32Array[] = [];
  for (let r = 0; r < n; r++) {
    const row = new Int32Array(seqLen + 1);
    row[0] = Math.floor(u() * vocab);
    for (let j = 1; j <= seqLen; j++) {
      let draw = u();
      let k = 0;
      while (k < SUCCESSOR_PROBS.length - 1 && draw >= (SUCCESSOR_PROBS[k] as number)) draw -= SUCCESSOR_PROBS[k++] as number;
      row[j] = (next[row[j - 1] as number] as number[])[k] as number;
    }
    rows.push(row);
  }
  return rows;
}
