import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { forwardCached, logitRows } from "../../src/inference/cached-forward.js";
import { ContextOverflowError } from "../../src/inference/errors.js";
import { generate } from "../../src/inference/generate.js";
import { KvCache, kvCacheBytesPerToken } from "../../src/inference/kv-cache.js";
import { forward } from "../../src/model/gpt.js";
import { sharpModel } from "./model-fixture.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const VARIANTS = [
  { name: "MHA", kvHeads: 4 },
  { name: "GQA", kvHeads: 2 },
  { name: "MQA", kvHeads: 1 },
] as const;
const POSITIONS = ["learned", "rotary"] as const;
const prompt = [5, 17, 42, 8, 63];

describe("the KV cache", () => {
  for (const pos of POSITIONS) {
    for (const v of VARIANTS) {
      it(`gives the uncached logits and the same greedy tokens: ${v.name}, ${pos} positions`, async () => {
        const m = sharpModel({ kvHeads: v.kvHeads, positionalEncoding: pos }, 11, 10);
        // Prefill 3 tokens, then one at a time: every position's logits match the full forward's.
        const cache = new KvCache(m.config, 1);
        const seq = [...prompt, 1, 2, 3, 4, 9, 30];
        const parts = [seq.slice(0, 3), ...seq.slice(3).map((t) => [t])];
        const cached: Float32Array[] = [];
        for (const p of parts) {
          const l = forwardCached(m.config, m.weights, [p], cache);
          cached.push(...((await logitRows(l))[0] ?? []));
          l.dispose();
        }
        const full = forward(m.config, m.weights, tf.tensor2d(seq, [1, seq.length], "int32"));
        const ref = (await logitRows(full))[0] ?? [];
        full.dispose();
        expect(cache.length).toBe(seq.length);
        expect(cached).toHaveLength(seq.length);
        let worst = 0;
        cached.forEach((row, j) => row.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - (ref[j]?.[i] ?? NaN))))));
        expect(worst).toBeLessThan(1e-3);
        cache.dispose();

        const opts = { maxNewTokens: 10, temperature: 0, seed: 1 };
        const withCache = await generate(m, prompt, opts);
        const without = await generate(m, prompt, { ...opts, useCache: false });
        expect(withCache.newTokens).toHaveLength(10);
        expect(withCache.tokens).toEqual(without.tokens);
        // Not a degenerate model: greedy output is not one token repeated.
        expect(new Set(withCache.newTokens).size).toBeGreaterThan(1);
      });
    }
  }

  it("holds only the KV heads: its size falls by heads / kvHeads", async () => {
    const sizes = [];
    for (const v of VARIANTS) {
      const m = sharpModel({ kvHeads: v.kvHeads });
      const r = await generate(m, prompt, { maxNewTokens: 4, temperature: 0, seed: 1 });
      // The cache holds every token but the last one produced.
      expect(r.cacheBytes).toBe((prompt.length + 3) * kvCacheBytesPerToken(m.config));
      sizes.push(kvCacheBytesPerToken(m.config));
    }
    // TINY: 2 layers, 4 heads of width 8: K and V, float32.
    expect(sizes).toEqual([2 * 2 * 4 * 8 * 4, 2 * 2 * 2 * 8 * 4, 2 * 2 * 1 * 8 * 4]);
  });

  it("seeded sampling reproduces, with and without the cache, and differs across seeds", async () => {
    const m = sharpModel({ kvHeads: 2 }, 5, 4);
    const opts = { maxNewTokens: 8, temperature: 1, topK: 20, topP: 0.95, seed: 7 };
    const a = await generate(m, prompt, opts);
    const b = await generate(m, prompt, { ...opts, useCache: false });
    const c = await generate(m, prompt, { ...opts, seed: 8 });
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it("refuses a prompt longer than the context, and a cache extended past it", async () => {
    const m = sharpModel();
    await expect(generate(m, Array.from({ length: 17 }, () => 1), { maxNewTokens: 1, temperature: 0, seed: 1 })).rejects.toThrow(ContextOverflowError);
    await expect(generate(m, prompt, { maxNewTokens: 12, temperature: 0, seed: 1 })).rejects.toThrow(/5 tokens\) plus 12 new tokens: 17 tokens do not fit in the model's context of 16/);
    const cache = new KvCache(m.config, 1);
    forwardCached(m.config, m.weights, [Array.from({ length: 16 }, () => 2)], cache).dispose();
    expect(() => forwardCached(m.config, m.weights, [[1]], cache)).toThrow(ContextOverflowError);
    cache.dispose();
  });
});
