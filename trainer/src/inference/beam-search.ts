// Beam search over the KV cache: the cache holds one row per beam and is reordered by parent every step.
import * as tf from "@tensorflow/tfjs-core";
import { forwardCached, logitRows } from "./cached-forward.js";
import { DecodingOptionError } from "./errors.js";
import { checkPrompt, type DecodingModel } from "./generate.js";
import { KvCache } from "./kv-cache.js";
import { beamScore, beamStep, logSoftmax, type Beam, type Hypothesis } from "./beam-step.js";

export interface BeamOptions {
  width: number;
  maxNewTokens: number;
  /** Scores divide sum log p by length^lengthPenalty: > 0 favours longer outputs, 0 is the plain sum. Default 1. */
  lengthPenalty?: number;
  /**
   * true: stop as soon as `width` hypotheses have finished. false (default): stop when no live beam can still beat the
   * worst finished one by its current score (Hugging Face's heuristic).
   */
  earlyStopping?: boolean;
  stopToken?: number;
}

export interface BeamResult {
  /** Prompt followed by the best hypothesis. */
  tokens: number[];
  newTokens: number[];
  score: number;
  /** Every hypothesis kept, best first. */
  hypotheses: Hypothesis[];
}

export async function beamSearch(m: DecodingModel, prompt: readonly number[], opts: BeamOptions): Promise<BeamResult> {
  checkPrompt(m.config, prompt, opts.maxNewTokens);
  if (!Number.isInteger(opts.width) || opts.width < 1) throw new DecodingOptionError("width", opts.width, "an integer ≥ 1");
  if (opts.maxNewTokens < 1) throw new DecodingOptionError("maxNewTokens", opts.maxNewTokens, "at least 1 for beam search");
  const lengthPenalty = opts.lengthPenalty ?? 1;
  let cache = new KvCache(m.config, 1);
  let beams: Beam[] = [{ tokens: [], logp: 0 }];
  let fed: number[][] = [[...prompt]];
  const finished: Hypothesis[] = [];
  const keepBest = () => {
    finished.sort((a, b) => b.score - a.score);
    finished.splice(opts.width);
  };
  let done = false;
  try {
    for (let step = 0; step < opts.maxNewTokens && beams.length > 0; step++) {
      const logits = forwardCached(m.config, m.weights, fed, cache);
      const last = tf.tidy(() => tf.slice(logits, [0, (fed[0]?.length ?? 1) - 1, 0], [-1, 1, -1]) as tf.Tensor3D);
      logits.dispose();
      const rows = (await logitRows(last)).map((r) => logSoftmax(r[0] as Float32Array));
      last.dispose();
      const out = beamStep(beams, rows, opts.width, lengthPenalty, opts.stopToken);
      finished.push(...out.finished);
      keepBest();
      beams = out.next;
      if (finished.length >= opts.width) {
        const worst = (finished.at(-1) as Hypothesis).score;
        const bestLive = Math.max(...beams.map((b) => beamScore(b.logp, b.tokens.length, lengthPenalty)));
        done = opts.earlyStopping === true || !(bestLive > worst);
        if (done) break;
      }
      if (beams.length === 0 || step === opts.maxNewTokens - 1) break;
      const reordered = cache.reorder(beams.map((b) => (b as Beam & { parent: number }).parent));
      cache.dispose();
      cache = reordered;
      fed = beams.map((b) => [b.tokens.at(-1) as number]);
    }
    // Beams still live at the length limit are hypotheses too.
    if (!done) finished.push(...beams.map((b) => ({ tokens: b.tokens, logp: b.logp, score: beamScore(b.logp, b.tokens.length, lengthPenalty) })));
    keepBest();
    const best = finished[0] as Hypothesis;
    return { tokens: [...prompt, ...best.tokens], newTokens: best.tokens, score: best.score, hypotheses: [...finished] };
  } finally {
    cache.dispose();
  }
}
