import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { logSoftmax } from "../../src/inference/beam-step.js";
import { logitRows } from "../../src/inference/cached-forward.js";
import { earlyExitGenerate, earlyExitTeacherForced } from "../../src/inference/early-exit.js";
import { checkEarlyExit, meanLayers, topProbability } from "../../src/inference/early-exit-rule.js";
import { DecodingOptionError } from "../../src/inference/errors.js";
import { generate, type DecodingModel } from "../../src/inference/generate.js";
import { argmax } from "../../src/inference/token-choice.js";
import { block, embed, forward, head } from "../../src/model/gpt.js";
import { sharpModel } from "./model-fixture.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const prompt = [5, 17, 42, 8, 63];

/** The first `layers` blocks of m under the same final LayerNorm and head. */
const truncated = (m: DecodingModel, layers: number): DecodingModel => ({ config: { ...m.config, layers }, weights: { ...m.weights, blocks: m.weights.blocks.slice(0, layers) } });

/**
 * Early exit with CALM state propagation, recomputed without any cache through model/gpt.ts's full causal blocks: a
 * position that exited after e blocks keeps its hidden state frozen in every layer above e. Returns the tokens, the
 * layers used and the exit confidences of greedy decoding.
 */
async function reference(m: DecodingModel, maxNew: number, threshold: number, minLayers: number): Promise<{ tokens: number[]; layers: number[]; confidence: number[] }> {
  const { config, weights: w } = m;
  const seq = [...prompt];
  const exitOf = prompt.slice(0, -1).map(() => config.layers);
  const layers: number[] = [];
  const confidence: number[] = [];
  for (let n = 0; n < maxNew; n++) {
    const t = seq.length;
    let x = embed(config, w, tf.tensor2d(seq, [1, t], "int32"));
    for (let l = 0; l < config.layers; l++) {
      const y = block(config, l, w.blocks[l] as (typeof w.blocks)[number], x);
      const frozen = tf.tensor3d(Float32Array.from({ length: t }, (_, j) => (j < t - 1 && (exitOf[j] as number) <= l ? 1 : 0)), [1, t, 1]);
      x = tf.add(tf.mul(frozen, x), tf.mul(tf.sub(1, frozen), y)) as tf.Tensor3D;
      const run = l + 1;
      if (run < minLayers) continue;
      const row = (await tf.slice(head(config, w, x), [0, t - 1, 0], [1, 1, -1]).data()) as Float32Array;
      const p = topProbability(row);
      if (run === config.layers || p > threshold) {
        exitOf.push(run);
        layers.push(run);
        confidence.push(p);
        seq.push(argmax(row));
        break;
      }
    }
  }
  return { tokens: seq, layers, confidence };
}

describe("the early-exit rule", () => {
  it("measures top-1 probability and refuses bad options", () => {
    expect(topProbability([0, Math.log(3)])).toBeCloseTo(0.75, 12);
    expect(topProbability([1000, 1000, 1000, 1000])).toBeCloseTo(0.25, 12);
    expect(meanLayers([1, 2, 4, 4])).toBe(2.75);
    expect(meanLayers([])).toBe(0);
    const { config } = sharpModel();
    expect(checkEarlyExit(config, { threshold: 0.5 })).toBe(1);
    expect(() => checkEarlyExit(config, { threshold: Number.NaN })).toThrow(DecodingOptionError);
    expect(() => checkEarlyExit(config, { threshold: 0.5, minLayers: 0 })).toThrow(DecodingOptionError);
    expect(() => checkEarlyExit(config, { threshold: 0.5, minLayers: config.layers + 1 })).toThrow(/minLayers/);
  });
});

describe("early-exit generation", () => {
  for (const v of [
    { kvHeads: 4, positionalEncoding: "learned" },
    { kvHeads: 2, positionalEncoding: "rotary" },
  ] as const) {
    it(`never exits above a threshold of 1 and equals plain decoding token for token (kvHeads ${v.kvHeads}, ${v.positionalEncoding})`, async () => {
      const m = sharpModel({ ...v, layers: 3 }, 11, 10);
      const greedy = await generate(m, prompt, { maxNewTokens: 10, temperature: 0, seed: 1 });
      const exit = await earlyExitGenerate(m, prompt, { maxNewTokens: 10, temperature: 0, seed: 1, threshold: 1.01 });
      expect(exit.tokens).toEqual(greedy.tokens);
      expect(exit.layersUsed).toEqual(Array(10).fill(3));
      expect(exit.meanLayers).toBe(3);
      expect(exit.cacheBytes).toBe(greedy.cacheBytes);
      // Sampling goes through the same seeded draws.
      const sampled = await generate(m, prompt, { maxNewTokens: 10, temperature: 1, topK: 8, seed: 4 });
      expect((await earlyExitGenerate(m, prompt, { maxNewTokens: 10, temperature: 1, topK: 8, seed: 4, threshold: 2 })).tokens).toEqual(sampled.tokens);
    });
  }

  it("exits at the first layer allowed at threshold 0, equal to greedy decoding of the truncated model", async () => {
    const m = sharpModel({ layers: 4 }, 5, 10);
    for (const minLayers of [1, 2]) {
      const exit = await earlyExitGenerate(m, prompt, { maxNewTokens: 9, temperature: 0, seed: 1, threshold: 0, minLayers });
      expect(exit.layersUsed).toEqual(Array(9).fill(minLayers));
      expect(exit.meanLayers).toBe(minLayers);
      // Every new token stops at minLayers, so nothing ever reads the propagated layers above it.
      const shallow = await generate(truncated(m, minLayers), prompt, { maxNewTokens: 9, temperature: 0, seed: 1 });
      expect(exit.tokens).toEqual(shallow.tokens);
      // The cache is still whole: every layer holds every position.
      expect(exit.cacheBytes).toBe((await generate(m, prompt, { maxNewTokens: 9, temperature: 0, seed: 1 })).cacheBytes);
    }
  });

  it("uses the layers an uncached state-propagation reference says, token by token", async () => {
    const m = sharpModel({ layers: 4, kvHeads: 2 }, 9, 6);
    const threshold = 0.1;
    const ref = await reference(m, 10, threshold, 1);
    const exit = await earlyExitGenerate(m, prompt, { maxNewTokens: 10, temperature: 0, seed: 1, threshold });
    expect(exit.layersUsed).toEqual(ref.layers);
    expect(exit.tokens).toEqual(ref.tokens);
    expect(exit.meanLayers).toBeCloseTo(ref.layers.reduce((s, l) => s + l, 0) / ref.layers.length, 12);
    // Not a trivial case: tokens exit at every depth, and tokens that go deeper after an early exit read the K/V that
    // state propagation put in the layers it skipped.
    expect(new Set(ref.layers)).toEqual(new Set([1, 2, 3, 4]));
    ref.confidence.forEach((p, i) => expect((ref.layers[i] as number) === 4 || p > threshold).toBe(true));
  });
});

describe("early exit scored on given text", () => {
  const text = [5, 17, 42, 8, 63, 1, 2, 3, 30, 9, 12];
  const crossEntropyRows = async (m: DecodingModel) => {
    const logits = forward(m.config, m.weights, tf.tensor2d(text, [1, text.length], "int32"));
    const rows = ((await logitRows(logits))[0] ?? []).slice(0, -1);
    logits.dispose();
    return { nll: rows.map((r, j) => -(logSoftmax(r)[text[j + 1] as number] as number)), argmax: rows.map((r) => argmax(r)) };
  };

  it("is the full model's cross-entropy above a threshold of 1, and the truncated model's at threshold 0", async () => {
    const m = sharpModel({ layers: 3 }, 2, 6);
    const never = await earlyExitTeacherForced(m, text, { threshold: 1.5 });
    const full = await crossEntropyRows(m);
    expect(never.layers).toEqual(Array(text.length - 1).fill(3));
    expect(never.argmax).toEqual(full.argmax);
    never.nll.forEach((x, j) => expect(x).toBeCloseTo(full.nll[j] as number, 3));
    const always = await earlyExitTeacherForced(m, text, { threshold: 0, minLayers: 2 });
    const shallow = await crossEntropyRows(truncated(m, 2));
    expect(always.layers).toEqual(Array(text.length - 1).fill(2));
    expect(always.argmax).toEqual(shallow.argmax);
    always.nll.forEach((x, j) => expect(x).toBeCloseTo(shallow.nll[j] as number, 3));
  });
});
