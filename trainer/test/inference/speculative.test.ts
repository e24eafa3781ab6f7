import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { logitRows } from "../../src/inference/cached-forward.js";
import { DraftMismatchError } from "../../src/inference/errors.js";
import { generate } from "../../src/inference/generate.js";
import { speculativeGenerate } from "../../src/inference/speculative.js";
import { verifyDraft } from "../../src/inference/speculative-rule.js";
import { tokenDistribution } from "../../src/inference/token-choice.js";
import { forward } from "../../src/model/gpt.js";
import { sharpModel } from "./model-fixture.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const prompt = [3, 1, 4, 1, 5];

/** Chi-square statistic of observed counts against expected probabilities (cells with p = 0 must be empty). */
function chiSquare(counts: readonly number[], p: ArrayLike<number>, n: number): number {
  let x2 = 0;
  counts.forEach((c, i) => {
    const e = n * (p[i] as number);
    x2 += e > 0 ? (c - e) ** 2 / e : c > 0 ? Infinity : 0;
  });
  return x2;
}
const tv = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + Math.abs(x - (b[i] as number)), 0) / 2;

describe("the speculative acceptance rule", () => {
  it("emits exactly the target distribution (quadrature over the draft's draw and both uniforms, k = 1)", () => {
    const p0 = [0.5, 0.2, 0.2, 0.1, 0];
    const q0 = [0.1, 0.1, 0.3, 0.2, 0.3];
    const bonus = [0.25, 0.25, 0.25, 0.25, 0];
    const grid = 400;
    const first = new Float64Array(5);
    let allAccepted = 0;
    for (let x = 0; x < 5; x++) {
      for (let a = 0; a < grid; a++) {
        for (let e = 0; e < grid; e++) {
          const v = verifyDraft([x], [q0], [p0, bonus], [(a + 0.5) / grid], (e + 0.5) / grid);
          const w = (q0[x] as number) / (grid * grid);
          (first[v.tokens[0] as number] as number) += w;
          if (v.accepted === 1) allAccepted += w;
        }
      }
    }
    first.forEach((f, i) => expect(f).toBeCloseTo(p0[i] as number, 2));
    // Acceptance probability is Σ min(p, q).
    expect(allAccepted).toBeCloseTo(0.1 + 0.1 + 0.2 + 0.1, 2);
    // A rejected draft token is never the one emitted where p ≤ q (the residual is 0 there).
    expect(verifyDraft([4], [q0], [p0, bonus], [0.99], 0.5).tokens[0]).not.toBe(4);
  });

  it("accepts greedy drafts iff they are the target's argmax and then emits the target's argmax", () => {
    const oneHot = (i: number) => Float64Array.from({ length: 4 }, (_, j) => (j === i ? 1 : 0));
    expect(verifyDraft([2, 1], [oneHot(2), oneHot(1)], [oneHot(2), oneHot(3), oneHot(0)], [0.9, 0.9], 0.9)).toEqual({ accepted: 1, tokens: [2, 3] });
    expect(verifyDraft([2, 1], [oneHot(2), oneHot(1)], [oneHot(2), oneHot(1), oneHot(0)], [0.9, 0.9], 0.9)).toEqual({ accepted: 2, tokens: [2, 1, 0] });
  });
});

describe("speculative decoding", () => {
  const target = sharpModel({ kvHeads: 2 }, 21, 12);
  const draft = sharpModel({ layers: 1, dModel: 16, heads: 2, kvHeads: 1, hidden: 32 }, 99, 12);

  it("greedy speculative output equals greedy output, with any draft", async () => {
    const greedy = await generate(target, prompt, { maxNewTokens: 10, temperature: 0, seed: 1 });
    for (const k of [1, 3, 4]) {
      const spec = await speculativeGenerate(target, draft, prompt, { maxNewTokens: 10, temperature: 0, seed: 1, draftTokens: k });
      expect(spec.tokens).toEqual(greedy.tokens);
    }
    const self = await speculativeGenerate(target, target, prompt, { maxNewTokens: 10, temperature: 0, seed: 1, draftTokens: 3 });
    expect(self.tokens).toEqual(greedy.tokens);
    // The target as its own draft: every proposal accepted, 10 tokens in 3 target passes (3 + 1 per round, then 2).
    expect(self.accepted).toBe(self.proposed);
    expect(self.rounds).toBe(3);
  });

  it("samples the target's next-token distribution exactly (chi-square over 700 seeded trials, positions 1 to 3, two-token drafts)", async () => {
    const vocab = 6;
    const t = sharpModel({ vocabSize: vocab, kvHeads: 1 }, 5, 3);
    const d = sharpModel({ vocabSize: vocab, layers: 1, dModel: 16, heads: 2, kvHeads: 2, hidden: 32 }, 6, 3);
    const opts = { temperature: 1 };
    // Exact target marginals: p(x1 | prompt), and p(x2) = Σ_x1 p(x1) p(x2 | prompt, x1), from one batched forward.
    const rows = Array.from({ length: vocab }, (_, x1) => [...prompt, x1]);
    const logits = forward(t.config, t.weights, tf.tensor2d(rows, [vocab, prompt.length + 1], "int32"));
    const all = await logitRows(logits);
    logits.dispose();
    const p1 = tokenDistribution(all[0]?.[prompt.length - 1] as Float32Array, opts);
    const p2 = new Float64Array(vocab);
    all.forEach((r, x1) => tokenDistribution(r[prompt.length] as Float32Array, opts).forEach((v, x2) => ((p2[x2] as number) += (p1[x1] as number) * v)));
    // p(x3) = Σ_x1,x2 p(x1) p(x2 | x1) p(x3 | x1, x2), from the vocab² continuations.
    const pairs = Array.from({ length: vocab * vocab }, (_, i) => [...prompt, Math.floor(i / vocab), i % vocab]);
    const pairLogits = forward(t.config, t.weights, tf.tensor2d(pairs, [vocab * vocab, prompt.length + 2], "int32"));
    const pairRows = await logitRows(pairLogits);
    pairLogits.dispose();
    const p3 = new Float64Array(vocab);
    pairRows.forEach((r, i) => {
      const [x1, x2] = [Math.floor(i / vocab), i % vocab];
      const w = (p1[x1] as number) * (tokenDistribution(all[x1]?.[prompt.length] as Float32Array, opts)[x2] as number);
      tokenDistribution(r[prompt.length + 1] as Float32Array, opts).forEach((v, x3) => ((p3[x3] as number) += w * v));
    });
    const dl = forward(d.config, d.weights, tf.tensor2d([prompt], [1, prompt.length], "int32"));
    const q1 = tokenDistribution((await logitRows(dl))[0]?.[prompt.length - 1] as Float32Array, opts);
    dl.dispose();
    // The draft really is another distribution, so a rule that kept its tokens would fail the test.
    expect(tv(p1, q1)).toBeGreaterThan(0.1);

    const trials = 700;
    const c1 = new Array<number>(vocab).fill(0);
    const c2 = new Array<number>(vocab).fill(0);
    const c3 = new Array<number>(vocab).fill(0);
    let proposed = 0;
    let accepted = 0;
    for (let seed = 1; seed <= trials; seed++) {
      // Three new tokens: the first round drafts min(2, 3 − 1) = 2, so x1 and x2 come out of a two-token draft.
      const r = await speculativeGenerate(t, d, prompt, { ...opts, maxNewTokens: 3, seed, draftTokens: 2 });
      expect(r.newTokens).toHaveLength(3);
      expect(r.proposed).toBeGreaterThanOrEqual(2);
      (c1[r.newTokens[0] as number] as number)++;
      (c2[r.newTokens[1] as number] as number)++;
      (c3[r.newTokens[2] as number] as number)++;
      proposed += r.proposed;
      accepted += r.accepted;
    }
    // Chi-square, 5 degrees of freedom: 20.5 is the 0.1% critical value. The seeds are fixed, so this is one draw.
    expect(chiSquare(c1, p1, trials)).toBeLessThan(20.5);
    expect(chiSquare(c2, p2, trials)).toBeLessThan(20.5);
    expect(chiSquare(c3, p3, trials)).toBeLessThan(20.5);
    // And the plain draft distribution is far outside that bound.
    expect(chiSquare(c1, q1, trials)).toBeGreaterThan(20.5);
    expect(accepted / proposed).toBeGreaterThan(0);
    expect(accepted / proposed).toBeLessThan(1);
  }, 30_000);

  it("refuses a draft of another vocabulary", async () => {
    const other = sharpModel({ vocabSize: 32 });
    await expect(speculativeGenerate(target, other, prompt, { maxNewTokens: 2, temperature: 0, seed: 1, draftTokens: 2 })).rejects.toThrow(DraftMismatchError);
  });
});
