// Speculative decoding: the draft model proposes k tokens one at a time (its own KV cache), the target scores all of
// them in one cached forward pass, verifyDraft keeps a prefix plus one token, and both caches are cut back to the
// committed sequence. Output is distributed exactly as sampling from the target (one-hot at temperature 0, so greedy
// speculative output is greedy output).
import { forwardCached, logitRows } from "./cached-forward.js";
import { DecodingOptionError, DraftMismatchError } from "./errors.js";
import { checkPrompt, lastLogitsCached, type DecodingModel } from "./generate.js";
import { KvCache } from "./kv-cache.js";
import { verifyDraft } from "./speculative-rule.js";
import { DRAW, checkSampling, drawFrom, tokenDistribution, uniformAt, type SamplingOptions } from "./token-choice.js";

export interface SpeculativeOptions extends SamplingOptions {
  maxNewTokens: number;
  seed: number;
  /** Tokens the draft proposes per round (k). */
  draftTokens: number;
  stopToken?: number;
  onToken?: (token: number, index: number) => void;
}

export interface SpeculativeResult {
  tokens: number[];
  newTokens: number[];
  /** Draft tokens proposed and accepted; acceptance rate = accepted / proposed. */
  proposed: number;
  accepted: number;
  /** Target forward passes (one per round). */
  rounds: number;
}

export function checkDraft(target: DecodingModel, draft: DecodingModel): void {
  if (draft.config.vocabSize !== target.config.vocabSize) throw new DraftMismatchError(`vocabulary ${draft.config.vocabSize}, the target's is ${target.config.vocabSize}`);
  if (draft.config.contextLength < target.config.contextLength) throw new DraftMismatchError(`context ${draft.config.contextLength} is shorter than the target's ${target.config.contextLength}`);
}

export async function speculativeGenerate(target: DecodingModel, draft: DecodingModel, prompt: readonly number[], opts: SpeculativeOptions): Promise<SpeculativeResult> {
  checkSampling(opts);
  checkPrompt(target.config, prompt, opts.maxNewTokens);
  checkDraft(target, draft);
  if (!Number.isInteger(opts.draftTokens) || opts.draftTokens < 1) throw new DecodingOptionError("draftTokens", opts.draftTokens, "an integer ≥ 1");
  const seq = [...prompt];
  const end = prompt.length + opts.maxNewTokens;
  const tCache = new KvCache(target.config, 1);
  const dCache = new KvCache(draft.config, 1);
  let proposed = 0;
  let accepted = 0;
  let rounds = 0;
  try {
    while (seq.length < end) {
      // The last committed token is not in either cache yet; it is fed with the drafts.
      const k = Math.min(opts.draftTokens, end - seq.length - 1);
      const drafted: number[] = [];
      const q: Float64Array[] = [];
      for (let i = 0; i < k; i++) {
        const fed = i === 0 ? seq.slice(dCache.length) : [drafted[i - 1] as number];
        const row = await lastLogitsCached(draft, dCache, fed);
        const dist = tokenDistribution(row, opts);
        q.push(dist);
        drafted.push(drawFrom(dist, uniformAt(opts.seed, seq.length + i, DRAW.draft)));
      }
      const logits = forwardCached(target.config, target.weights, [[...seq.slice(tCache.length), ...drafted]], tCache);
      const rows = (await logitRows(logits))[0] ?? [];
      logits.dispose();
      const p = rows.slice(rows.length - (k + 1)).map((r) => tokenDistribution(r, opts));
      const uAccept = drafted.map((_, i) => uniformAt(opts.seed, seq.length + i, DRAW.accept));
      // One extra token per round: its uniform is keyed by the round's first position.
      const verdict = verifyDraft(drafted, q, p, uAccept, uniformAt(opts.seed, seq.length, DRAW.residual));
      rounds++;
      proposed += k;
      accepted += verdict.accepted;
      let stopped = false;
      for (const t of verdict.tokens) {
        seq.push(t);
        opts.onToken?.(t, seq.length - prompt.length - 1);
        if (t === opts.stopToken) {
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      // Keep only what agrees with the committed sequence, minus its newest token.
      tCache.truncate(Math.min(tCache.length, seq.length - 1));
      dCache.truncate(Math.min(dCache.length, seq.length - 1));
    }
    return { tokens: seq, newTokens: seq.slice(prompt.length), proposed, accepted, rounds };
  } finally {
    tCache.dispose();
    dCache.dispose();
  }
}
