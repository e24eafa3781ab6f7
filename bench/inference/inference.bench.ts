// bench-inference: what the inference stack buys, measured side by side in one run on this machine's backend.
// 1. Attention variants (heads 8; kvHeads 8, 2, 1), trained briefly from scratch with the same budget on the same
//    corpus: parameters, KV-cache bytes per token, validation loss, greedy tokens/s with and without the KV cache.
// 2. Speculative decoding: a draft of about 1/10 of the target's parameters, trained on the same corpus; speed-up over
//    plain cached decoding of the same target, and the acceptance rate (greedy, and sampling at temperature 1).
// 3. Compression of the MHA model: int8 file size against fp32, perplexity deltas for int8 and Wanda 25% / 50%.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { encodeText } from "@gantry/dataloader";
import { printResult, printTable, type Row } from "../table.js";
import { selectBackend, type BackendName } from "../../trainer/src/backend/select-backend.js";
import type { NamedArray } from "../../trainer/src/checkpoint/named-array.js";
import { encodeSafetensors } from "../../trainer/src/checkpoint/safetensors.js";
import { SoloCollective } from "../../trainer/src/collective/collective.js";
import { decodeCompressedModel, encodeCompressedModel } from "../../trainer/src/compress/compressed-model.js";
import { pruneModel } from "../../trainer/src/compress/prune-model.js";
import { perplexityOf } from "../../trainer/src/eval/perplexity.js";
import { modelWeights } from "../../trainer/src/generate/load-model.js";
import { generate, type DecodingModel } from "../../trainer/src/inference/generate.js";
import { kvCacheBytesPerToken } from "../../trainer/src/inference/kv-cache.js";
import { speculativeGenerate } from "../../trainer/src/inference/speculative.js";
import { validateModelConfig, type ModelConfig } from "../../trainer/src/model/model-config.js";
import { parameterCount } from "../../trainer/src/model/param-layout.js";
import { Trainer } from "../../trainer/src/train/trainer.js";

const STEPS = Number(process.env["BENCH_INFERENCE_STEPS"] ?? 120);
const NEW_TOKENS = Number(process.env["BENCH_INFERENCE_TOKENS"] ?? 48);
const BACKEND = (process.env["BENCH_INFERENCE_BACKEND"] ?? "wasm") as BackendName;
const CTX = 64;
const BATCH = 8;
// Sized so the whole benchmark stays within ~5 minutes on 2 busy cores.
const base: ModelConfig = { vocabSize: 256, contextLength: CTX, layers: 2, dModel: 64, heads: 8, kvHeads: 8, hidden: 256, activation: "gelu", dropout: 0, positionalEncoding: "learned", tieEmbeddings: true };
const draftConfig: ModelConfig = { ...base, layers: 1, dModel: 24, heads: 4, kvHeads: 4, hidden: 96 };

// The corpus: Debian's license texts, bytes tokenizer; the last tenth of the rows is held out for validation.
const dir = "/usr/share/common-licenses";
const text = readdirSync(dir).sort().slice(0, 12).map((f) => { try { return readFileSync(join(dir, f), "utf8"); } catch { return ""; } }).join("\n");
const tokens = encodeText("bytes", text);
const allRows: Int32Array[] = [];
for (let i = 0; i + CTX + 1 <= tokens.length; i += CTX) allRows.push(Int32Array.from(tokens.slice(i, i + CTX + 1)));
const cut = Math.floor(allRows.length * 0.9);
const trainRows = allRows.slice(0, cut);
const valRows = allRows.slice(cut, cut + 64);

async function train(model: ModelConfig): Promise<{ arrays: NamedArray[]; seconds: number }> {
  const t = new Trainer(
    { model, optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, schedule: { type: "cosine", peakLr: 3e-3, warmupSteps: 10, minLrRatio: 0.1, totalSteps: STEPS }, globalBatchSize: BATCH, microBatchSize: BATCH, gradClipNorm: 1, seed: 7 },
    new SoloCollective(),
  );
  const t0 = performance.now();
  for (let s = 0; s < STEPS; s++) await t.step(s, Array.from({ length: BATCH }, (_, j) => trainRows[(s * BATCH + j) % trainRows.length] as Int32Array));
  const arrays = await t.exportParams();
  t.dispose();
  return { arrays, seconds: (performance.now() - t0) / 1000 };
}

const prompt = Array.from(valRows[0]?.subarray(0, 8) ?? []);
const rate = async (f: () => Promise<number>): Promise<number> => {
  await f(); // warm-up: kernels, first allocations
  const t0 = performance.now();
  const n = await f();
  return n / ((performance.now() - t0) / 1000);
};

await selectBackend({ order: [BACKEND, "cpu"] });
const started = performance.now();

// 1. Attention variants.
const variantRows: Row[] = [];
const variants: Record<string, { params: number; kvBytesPerToken: number; valLoss: number; cachedTps: number; uncachedTps: number; speedup: number }> = {};
let mha: { config: ModelConfig; arrays: NamedArray[] } | undefined;
for (const [name, kvHeads] of [["MHA", 8], ["GQA", 2], ["MQA", 1]] as const) {
  const config = validateModelConfig({ ...base, kvHeads });
  const { arrays, seconds } = await train(config);
  if (name === "MHA") mha = { config, arrays };
  const { weights, flat } = modelWeights({ config, arrays });
  const m: DecodingModel = { config, weights };
  const valLoss = (await perplexityOf(config, weights, valRows)).loss;
  const cachedTps = await rate(async () => (await generate(m, prompt, { maxNewTokens: NEW_TOKENS, temperature: 0, seed: 1 })).newTokens.length);
  const uncachedTps = await rate(async () => (await generate(m, prompt, { maxNewTokens: NEW_TOKENS, temperature: 0, seed: 1, useCache: false })).newTokens.length);
  tf.dispose(flat);
  const v = { params: parameterCount(config), kvBytesPerToken: kvCacheBytesPerToken(config), valLoss, cachedTps, uncachedTps, speedup: cachedTps / uncachedTps };
  variants[name] = v;
  variantRows.push({ variant: `${name} (kvHeads ${kvHeads})`, params: v.params, "KV bytes/token": v.kvBytesPerToken, "val loss": Number(valLoss.toFixed(3)), "tok/s cached": v.cachedTps, "tok/s uncached": v.uncachedTps, "cache speed-up": v.speedup, "train s": seconds });
}
printTable(`Attention variants: heads 8, ${base.layers} layers, d ${base.dModel}, ${STEPS} steps × ${BATCH}×${CTX} tokens each, greedy ${NEW_TOKENS} tokens after an 8-token prompt (${BACKEND})`, variantRows);

// 2. Speculative decoding, MHA target.
const target = mha as { config: ModelConfig; arrays: NamedArray[] };
const draftTrained = await train(draftConfig);
const tw = modelWeights(target);
const dw = modelWeights({ config: draftConfig, arrays: draftTrained.arrays });
const tm: DecodingModel = { config: target.config, weights: tw.weights };
const dm: DecodingModel = { config: draftConfig, weights: dw.weights };
const specRows: Row[] = [];
const spec: Record<string, { plainTps: number; specTps: number; speedup: number; acceptance: number; sameAsPlain: boolean }> = {};
for (const temperature of [0, 1]) {
  const k = 4;
  let acceptance = 0;
  let specTokens: number[] = [];
  let plainTokens: number[] = [];
  const plainTps = await rate(async () => {
    const r = await generate(tm, prompt, { maxNewTokens: NEW_TOKENS, temperature, seed: 3 });
    plainTokens = r.tokens;
    return r.newTokens.length;
  });
  const specTps = await rate(async () => {
    const r = await speculativeGenerate(tm, dm, prompt, { maxNewTokens: NEW_TOKENS, temperature, seed: 3, draftTokens: k });
    acceptance = r.accepted / r.proposed;
    specTokens = r.tokens;
    return r.newTokens.length;
  });
  const key = temperature === 0 ? "greedy" : "sample_t1";
  spec[key] = { plainTps, specTps, speedup: specTps / plainTps, acceptance, sameAsPlain: specTokens.join() === plainTokens.join() };
  specRows.push({ decoding: key, k, "plain tok/s": plainTps, "speculative tok/s": specTps, "speed-up": specTps / plainTps, "acceptance %": 100 * acceptance, "same tokens as plain": temperature === 0 ? String(spec[key]?.sameAsPlain) : "n/a (sampled)" });
}
tf.dispose([...tw.flat, ...dw.flat]);
const draftRatio = parameterCount(draftConfig) / parameterCount(target.config);
printTable(`Speculative decoding: target ${parameterCount(target.config)} params, draft ${parameterCount(draftConfig)} (${(100 * draftRatio).toFixed(1)}%), ${NEW_TOKENS} tokens`, specRows);

// 3. Compression of the MHA model.
const fp32Bytes = encodeSafetensors(target.arrays).length;
const int8Bytes = encodeCompressedModel(target.config, "bytes", target.arrays, { quantization: "int8-per-channel" });
const ppl = async (arrays: NamedArray[]) => {
  const { weights, flat } = modelWeights({ config: target.config, arrays });
  const r = await perplexityOf(target.config, weights, valRows);
  tf.dispose(flat);
  return r.perplexity;
};
const pplFp32 = await ppl(target.arrays);
const pplInt8 = await ppl(decodeCompressedModel(int8Bytes, "int8", validateModelConfig).arrays);
const calib = trainRows.slice(0, 32);
const pplW25 = await ppl((await pruneModel(target.config, target.arrays, calib, { kind: "unstructured", sparsity: 0.25 })).arrays);
const pplW50 = await ppl((await pruneModel(target.config, target.arrays, calib, { kind: "unstructured", sparsity: 0.5 })).arrays);
const delta = (x: number) => (x - pplFp32) / pplFp32;
printTable(`Compression of the MHA model: validation perplexity over ${valRows.length}×${CTX} tokens`, [
  { model: "fp32", bytes: fp32Bytes, "size vs fp32": 1, perplexity: pplFp32, "Δ perplexity %": 0 },
  { model: "int8 per-channel", bytes: int8Bytes.length, "size vs fp32": int8Bytes.length / fp32Bytes, perplexity: pplInt8, "Δ perplexity %": 100 * delta(pplInt8) },
  { model: "Wanda 25%", bytes: fp32Bytes, "size vs fp32": 1, perplexity: pplW25, "Δ perplexity %": 100 * delta(pplW25) },
  { model: "Wanda 50%", bytes: fp32Bytes, "size vs fp32": 1, perplexity: pplW50, "Δ perplexity %": 100 * delta(pplW50) },
]);

const mhaV = variants["MHA"];
const gqaV = variants["GQA"];
const mqaV = variants["MQA"];
printResult({
  bench: "inference",
  backend: BACKEND,
  steps: STEPS,
  seconds: (performance.now() - started) / 1000,
  variants,
  speculative: { draftParamRatio: draftRatio, ...spec },
  compression: { fp32Bytes, int8Bytes: int8Bytes.length, int8SizeRatio: int8Bytes.length / fp32Bytes, pplFp32, pplInt8, pplWanda25: pplW25, pplWanda50: pplW50, int8PplDelta: delta(pplInt8), wanda25PplDelta: delta(pplW25), wanda50PplDelta: delta(pplW50) },
  meets: {
    kvCacheFasterEveryVariant: Object.values(variants).every((v) => v.speedup > 1),
    kvBytesScaleWithKvHeads: mhaV !== undefined && gqaV !== undefined && mqaV !== undefined && mhaV.kvBytesPerToken === 4 * gqaV.kvBytesPerToken && mhaV.kvBytesPerToken === 8 * mqaV.kvBytesPerToken,
    draftAboutTenth: draftRatio >= 0.05 && draftRatio <= 0.15,
    speculativeGreedyExact: spec["greedy"]?.sameAsPlain === true,
    speculativeFaster: (spec["greedy"]?.speedup ?? 0) > 1,
    int8QuarterSize: int8Bytes.length / fp32Bytes <= 0.3,
    int8PerplexityWithin1Pct: Math.abs(delta(pplInt8)) < 0.01,
    wanda25PerplexityWithin10Pct: delta(pplW25) < 0.1,
  },
});
