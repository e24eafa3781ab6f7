// One step of beam search, pure: from each live beam's log-probabilities over the vocabulary, the best 2·width
// continuations by total log-probability; those ending in the stop token become finished hypotheses, the best `width`
// others the next beams. Scores are sum log p / length^lengthPenalty (length = new tokens, the stop token included).

export interface Beam {
  /** New tokens so far (the prompt excluded). */
  tokens: number[];
  logp: number;
}

export interface Hypothesis extends Beam {
  score: number;
}

export const beamScore = (logp: number, length: number, lengthPenalty: number): number => logp / Math.pow(Math.max(length, 1), lengthPenalty);

export interface StepOutcome {
  /** The next beams, each with the index of the beam it extends (for reordering the KV cache). */
  next: (Beam & { parent: number })[];
  finished: Hypothesis[];
}

/** Log-softmax of one row of logits, in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits as ArrayLike<number>, (x) => x - lse);
}

export function beamStep(beams: readonly Beam[], logprobs: readonly Float64Array[], width: number, lengthPenalty: number, stopToken: number | undefined): StepOutcome {
  const cands: { parent: number; token: number; logp: number }[] = [];
  beams.forEach((b, parent) => {
    const lp = logprobs[parent] as Float64Array;
    for (let token = 0; token < lp.length; token++) cands.push({ parent, token, logp: b.logp + (lp[token] as number) });
  });
  // Ties break by (beam, token), so the search is deterministic.
  cands.sort((a, b) => b.logp - a.logp || a.parent - b.parent || a.token - b.token);
  const next: (Beam & { parent: number })[] = [];
  const finished: Hypothesis[] = [];
  for (const c of cands.slice(0, 2 * width)) {
    const tokens = [...(beams[c.parent] as Beam).tokens, c.token];
    if (c.token === stopToken) finished.push({ tokens, logp: c.logp, score: beamScore(c.logp, tokens.length, lengthPenalty) });
    else if (next.length < width) next.push({ tokens, logp: c.logp, parent: c.parent });
  }
  return { next, finished };
}
