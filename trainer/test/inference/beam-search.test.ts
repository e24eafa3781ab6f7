import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { beamSearch } from "../../src/inference/beam-search.js";
import { beamStep, logSoftmax } from "../../src/inference/beam-step.js";
import { logitRows } from "../../src/inference/cached-forward.js";
import { generate } from "../../src/inference/generate.js";
import { forward } from "../../src/model/gpt.js";
import { sharpModel } from "./model-fixture.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const prompt = [2, 3, 1];

describe("beam search", () => {
  it("with width 1 is greedy decoding", async () => {
    for (const kvHeads of [4, 1]) {
      const m = sharpModel({ kvHeads }, 8, 10);
      const greedy = await generate(m, prompt, { maxNewTokens: 9, temperature: 0, seed: 1 });
      const beam = await beamSearch(m, prompt, { width: 1, maxNewTokens: 9 });
      expect(beam.tokens).toEqual(greedy.tokens);
    }
  });

  it("finds the best-scoring sequence of a tiny vocabulary (brute force over all 4³ continuations)", async () => {
    const vocab = 4;
    const m = sharpModel({ vocabSize: vocab, kvHeads: 2 }, 13, 6);
    // Every 2-token extension in one batch: logits at the last three positions score all 64 sequences.
    const pairs = Array.from({ length: vocab * vocab }, (_, i) => [Math.floor(i / vocab), i % vocab]);
    const logits = forward(m.config, m.weights, tf.tensor2d(pairs.map((p) => [...prompt, ...p]), [pairs.length, prompt.length + 2], "int32"));
    const rows = await logitRows(logits);
    logits.dispose();
    let best = { seq: [] as number[], logp: -Infinity };
    const scores = new Map<string, number>();
    pairs.forEach(([a, b], i) => {
      const r = rows[i] ?? [];
      const l0 = logSoftmax(r[prompt.length - 1] as Float32Array);
      const l1 = logSoftmax(r[prompt.length] as Float32Array);
      const l2 = logSoftmax(r[prompt.length + 1] as Float32Array);
      for (let c = 0; c < vocab; c++) {
        const logp = (l0[a as number] as number) + (l1[b as number] as number) + (l2[c] as number);
        scores.set(`${a},${b},${c}`, logp);
        if (logp > best.logp) best = { seq: [a as number, b as number, c], logp };
      }
    });
    // Width vocab² keeps every 2-token prefix, so the search is exhaustive.
    const exhaustive = await beamSearch(m, prompt, { width: vocab * vocab, maxNewTokens: 3 });
    expect(exhaustive.newTokens).toEqual(best.seq);
    expect(exhaustive.score).toBeCloseTo(best.logp / 3, 4);
    // A narrow beam returns a real sequence with its true score (which may be worse than the best).
    const narrow = await beamSearch(m, prompt, { width: 2, maxNewTokens: 3 });
    expect(narrow.score).toBeCloseTo((scores.get(narrow.newTokens.join(",")) as number) / 3, 4);
    expect(narrow.score).toBeLessThanOrEqual(exhaustive.score + 1e-9);
  });

  it("finishes hypotheses at the stop token, normalises by length, and stops early when asked", () => {
    const lp = (xs: number[]) => Float64Array.from(xs.map(Math.log));
    // Two beams over a 3-token vocabulary, token 2 stops.
    const beams = [{ tokens: [0], logp: Math.log(0.6) }, { tokens: [1], logp: Math.log(0.4) }];
    const out = beamStep(beams, [lp([0.1, 0.3, 0.6]), lp([0.5, 0.1, 0.4])], 2, 1, 2);
    expect(out.finished.map((h) => h.tokens)).toEqual([[0, 2], [1, 2]]);
    expect(out.finished[0]?.score).toBeCloseTo(Math.log(0.36) / 2, 9);
    expect(out.next.map((b) => [b.parent, ...b.tokens])).toEqual([[1, 1, 0], [0, 0, 1]]);
  });

  it("with early stopping ends once width hypotheses have finished", async () => {
    const m = sharpModel({ vocabSize: 4 }, 4, 6);
    const eager = await beamSearch(m, prompt, { width: 2, maxNewTokens: 12, stopToken: 0, earlyStopping: true });
    expect(eager.hypotheses).toHaveLength(2);
    expect(eager.hypotheses.every((h) => h.tokens.at(-1) === 0)).toBe(true);
  });
});
