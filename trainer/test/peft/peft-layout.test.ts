// The PEFT parameter list: counts match the formulas, names and order are fixed, and the start is the identity.
import { describe, expect, it } from "vitest";
import { parseJob } from "@gantry/crds";
import { modelConfigFromSpec } from "../../src/model/model-config.js";
import { peftConfigFromSpec } from "../../src/peft/peft-config.js";
import { initPeftParams, peftLayout, peftParameterCount } from "../../src/peft/peft-layout.js";
import { TINY } from "../model/tiny.js";
import { ADAPTER, LORA } from "./fixtures.js";

function specOf(peft: Record<string, unknown>, model: Record<string, unknown> = { preset: "gpt2-small" }) {
  const r = parseJob({
    apiVersion: "gantry.dev/v1alpha1",
    kind: "LLMTrainingJob",
    metadata: { name: "peft", namespace: "default" },
    spec: { model: { ...model, pretrained: { uri: "file:///base" } }, data: { source: "file:///data" }, training: { steps: 1 }, peft },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.job.spec;
}

describe("LoRA parameters", () => {
  it("on gpt2-small, the count is layers × Σ over targets of r·(d_in + d_out)", () => {
    for (const [rank, targets] of [
      [8, ["q", "v"]],
      [4, ["q", "k", "v", "o", "up", "down"]],
      [16, ["down", "up", "o"]],
    ] as const) {
      const spec = specOf({ lora: { rank, targetModules: targets } });
      const config = modelConfigFromSpec(spec);
      const peft = peftConfigFromSpec(spec);
      if (peft?.method !== "lora") throw new Error("not lora");
      // gpt2-small: d = 768, MLP hidden 3072, 12 layers; q, k, v, o are d → d, up d → 4d, down 4d → d.
      const dims: Record<string, [number, number]> = { q: [768, 768], k: [768, 768], v: [768, 768], o: [768, 768], up: [768, 3072], down: [3072, 768] };
      const formula = 12 * targets.reduce((n, t) => n + rank * ((dims[t] as [number, number])[0] + (dims[t] as [number, number])[1]), 0);
      expect(peftParameterCount(config, peft)).toBe(formula);
    }
    // q, v at r = 8: 12 · 8 · (1536 + 1536) = 294,912, 0.24% of the 124M-parameter model.
    const spec = specOf({});
    expect(peftParameterCount(modelConfigFromSpec(spec), peftConfigFromSpec(spec) as NonNullable<ReturnType<typeof peftConfigFromSpec>>)).toBe(294_912);
  });

  it("names and order are fixed: per layer, targets in q, k, v, o, up, down order whatever the spec's order", () => {
    const a = peftConfigFromSpec(specOf({ lora: { rank: 2, targetModules: ["down", "q", "q"] } }));
    expect(a).toEqual({ method: "lora", rank: 2, alpha: 16, dropout: 0, targets: ["q", "down"] });
    const names = peftLayout(TINY, a as NonNullable<typeof a>).map((p) => `${p.name} [${p.shape.join(",")}]`);
    expect(names).toEqual([
      "h.0.attn.q.lora_a [2,32]",
      "h.0.attn.q.lora_b [32,2]",
      "h.0.mlp.proj.lora_a [2,128]",
      "h.0.mlp.proj.lora_b [32,2]",
      "h.1.attn.q.lora_a [2,32]",
      "h.1.attn.q.lora_b [32,2]",
      "h.1.mlp.proj.lora_a [2,128]",
      "h.1.mlp.proj.lora_b [32,2]",
    ]);
  });

  it("GQA: k and v adapt to kvHeads·headDim outputs", () => {
    const config = { ...TINY, kvHeads: 2 };
    const shapes = Object.fromEntries(peftLayout(config, LORA).map((p) => [p.name, p.shape]));
    expect(shapes["h.0.attn.k.lora_b"]).toEqual([16, 4]);
    expect(shapes["h.0.attn.q.lora_b"]).toEqual([32, 4]);
  });

  it("init: A is Gaussian with std 1/sqrt(d_in), B is zero, and the bytes are a pure function of the seed", () => {
    const p = initPeftParams(TINY, LORA, 3);
    const a = p.find((x) => x.name === "h.0.mlp.proj.lora_a")?.data as Float32Array;
    const std = Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
    expect(std).toBeGreaterThan(0.8 / Math.sqrt(128));
    expect(std).toBeLessThan(1.2 / Math.sqrt(128));
    for (const b of p.filter((x) => x.name.endsWith("lora_b"))) expect(b.data.every((x) => x === 0)).toBe(true);
    expect(initPeftParams(TINY, LORA, 3).map((x) => [...x.data])).toEqual(p.map((x) => [...x.data]));
    expect([...(initPeftParams(TINY, LORA, 4)[0]?.data as Float32Array)]).not.toEqual([...(p[0]?.data as Float32Array)]);
  });
});

describe("adapter parameters", () => {
  it("each adapter has d·m + m + m·d + d parameters; placement both puts two in every block", () => {
    const spec = specOf({ method: "adapter", adapter: { bottleneck: 64 } });
    const peft = peftConfigFromSpec(spec);
    expect(peft).toEqual({ method: "adapter", bottleneck: 64, placement: "both" });
    expect(peftParameterCount(modelConfigFromSpec(spec), peft as NonNullable<typeof peft>)).toBe(12 * 2 * (768 * 64 + 64 + 64 * 768 + 768));
    expect(peftLayout(TINY, { ...ADAPTER, placement: "mlp" }).map((p) => p.name)).toEqual(
      [0, 1].flatMap((i) => ["down", "down_b", "up", "up_b"].map((f) => `h.${i}.adapter_mlp.${f}`)),
    );
  });

  it("init: the up-projection and biases are zero, so a fresh adapter is the identity", () => {
    const p = initPeftParams(TINY, ADAPTER, 3);
    for (const x of p.filter((x) => !x.name.endsWith(".down"))) expect(x.data.every((v) => v === 0), x.name).toBe(true);
    expect(p.find((x) => x.name === "h.0.adapter_attn.down")?.data.some((v) => v !== 0)).toBe(true);
  });
});
