import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeTokens } from "../../src/generate/decode.js";
import { pickToken, sample } from "../../src/generate/sample.js";
import { initParams } from "../../src/model/init-params.js";
import { structureWeights } from "../../src/model/gpt-weights.js";
import { importParams } from "../../src/model/param-io.js";
import type { ModelConfig } from "../../src/model/model-config.js";

const config: ModelConfig = { vocabSize: 256, contextLength: 8, layers: 1, dModel: 16, heads: 2, kvHeads: 2, hidden: 64, activation: "gelu", dropout: 0, positionalEncoding: "learned", tieEmbeddings: true };

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("picking the next token", () => {
  const logits = Float32Array.from([0.1, 3, 2.9, -1]);
  it("is the most likely one at temperature 0", () => {
    expect(pickToken(logits, 0, 0, 0.99)).toBe(1);
  });
  it("stays among the top k, in order of likelihood as the draw grows", () => {
    const draws = [0, 0.3, 0.6, 0.99].map((u) => pickToken(logits, 1, 2, u));
    expect(new Set(draws)).toEqual(new Set([1, 2]));
    expect(draws[0]).toBe(1);
    expect(draws[3]).toBe(2);
  });
});

describe("sampling from a model", () => {
  it("is the same for the same seed and prompt, slides past the context, and decodes bytes", async () => {
    const weights = structureWeights(config, importParams(config, initParams(config, 3)));
    const opts = { maxNewTokens: 12, temperature: 1, topK: 0, seed: 9 };
    const a = await sample(config, weights, [72, 105], opts);
    const b = await sample(config, weights, [72, 105], opts);
    const c = await sample(config, weights, [72, 105], { ...opts, seed: 10 });
    expect(a).toHaveLength(14);
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    expect(a.slice(0, 2)).toEqual([72, 105]);
    expect(decodeTokens("bytes", [72, 105])).toBe("Hi");
    expect(decodeTokens("gpt2", [15496, 995])).toBe("Hello world");
  });
});
