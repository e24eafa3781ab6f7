// The exact acceptance rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023), pure: drafted tokens
// x_1..x_k drawn from the draft's q_1..q_k, the target's p_1..p_{k+1} at the same positions. x_i is accepted with
// probability min(1, p_i(x_i)/q_i(x_i)); at the first rejection one token is drawn from norm(max(0, p_i − q_i)); if all
// k are accepted, a bonus token is drawn from p_{k+1}. The tokens emitted are then distributed exactly as p's.
import { drawFrom } from "./token-choice.js";

export interface Verdict {
  /** Drafted tokens accepted (0 … k). */
  accepted: number;
  /** Tokens to append: the accepted drafts, then the resampled or bonus token. */
  tokens: number[];
}

/** The residual distribution max(0, p − q), unnormalised (drawFrom normalises); p itself if it is all zero. */
export function residual(p: ArrayLike<number>, q: ArrayLike<number>): Float64Array {
  const r = new Float64Array(p.length);
  let total = 0;
  for (let i = 0; i < p.length; i++) total += r[i] = Math.max(0, (p[i] as number) - (q[i] as number));
  // Only rounding can reject when p = q; the residual is then empty and p is the right fallback.
  return total > 0 ? r : Float64Array.from(p as ArrayLike<number>);
}

/**
 * uAccept[i] (uniform in [0, 1)) decides x_i; uExtra draws the resampled or bonus token. p has k + 1 rows, q has k.
 */
export function verifyDraft(drafted: readonly number[], q: readonly ArrayLike<number>[], p: readonly ArrayLike<number>[], uAccept: readonly number[], uExtra: number): Verdict {
  const k = drafted.length;
  if (q.length !== k || p.length !== k + 1 || uAccept.length !== k) throw new RangeError(`verifyDraft: ${k} drafts need ${k} draft rows, ${k + 1} target rows and ${k} uniforms`);
  const tokens: number[] = [];
  for (let i = 0; i < k; i++) {
    const x = drafted[i] as number;
    const pi = p[i] as ArrayLike<number>;
    const qi = q[i] as ArrayLike<number>;
    const px = pi[x] as number;
    const qx = qi[x] as number;
    // x was drawn from q, so q(x) > 0; accept when u < p/q (always when p ≥ q).
    if (uAccept[i] as number < Math.min(1, px / qx)) {
      tokens.push(x);
      continue;
    }
    tokens.push(drawFrom(residual(pi, qi), uExtra));
    return { accepted: i, tokens };
  }
  tokens.push(drawFrom(p[k] as ArrayLike<number>, uExtra));
  return { accepted: k, tokens };
}
