// bench-inference: what the inference stack buys, measured side by side in one run on this machine's backend.
// 1. Attention variants (heads 8; kvHeads 8, 2, 1), trained briefly from scratch with the same budget on the same
//    corpus: parameters, KV-cache bytes per token, validation loss, greedy tokens/s with and without the KV cache.
// 2. Speculative decoding: a target big enough that its forward dominates (6 layers, d 192) and a draft of about 1/10
//    of its parameters (1 layer, d 128), both trained briefly on the same highly structured corpus (one sentence,
//    repeated); speed-up over plain cached decoding of the same target, and the acceptance rate (greedy, and sampling
//    at temperature 1).
// 3. Compression of the MHA model: int8 file size against fp32, perplexity deltas for int8 and Wanda 25% / 50%.
// 4. Early exit (experimental) on the speculative target: for a sweep of thresholds, the mean layers used, agreement
//    of the exit predictions with full depth and their perplexity (teacher-forced), and greedy tokens/s side by side.
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
import { modelWeights } from "../../trainer/src/model-source/load-model.js";
import { earlyExitGenerate, earlyExitTeacherForced } from "../../trainer/src/inference/early-exit.js";
import { meanLayers } from "../../trainer/src/inference/early-exit-rule.js";
import { generate, type DecodingModel } from "../../trainer/src/inference/generate.js";
import { kvCacheBytesPerToken } from "../../trainer/src/inference/kv-cache.js";
import { speculativeGenerate } from "../../trainer/src/inference/speculative.js";
import { validateModelConfig, type ModelConfig } from "../../trainer/src/model/model-config.js";
import { parameterCount } from "../../trainer/src/model/param-layout.js";
import { Trainer } from "../../trainer/src/train/trainer.js";
import { BENCH_ADAMW, benchModel } from "../trainer-setup.js";

const STEPS = Number(process.env["BENCH_INFERENCE_STEPS"] ?? 80);
const TARGET_STEPS = Number(process.env["BENCH_INFERENCE_TARGET_STEPS"] ?? 60);
const DRAFT_STEPS = Number(process.env["BENCH_INFERENCE_DRAFT_STEPS"] ?? 150);
const NEW_TOKENS = Number(process.env["BENCH_INFERENCE_TOKENS"] ?? 48);
const BACKEND = (process.env["BENCH_INFERENCE_BACKEND"] ?? "wasm") as BackendName;
const CTX = 64;
const BATCH = 8;
// Sized so the whole benchmark stays within ~5 minutes on 2 busy cores.
const base: ModelConfig = benchModel({ vocabSize: 256, contextLength: CTX, layers: 2, dModel: 64, heads: 8, hidden: 256 });
// Speculative decoding and early exit: a short context keeps the big target's training affordable. Untied heads give
// both models a direct bigram path, which they learn in few steps.
const SPEC_CTX = 32;
const SPEC_BATCH = 4;
const SPEC_TOKENS = 24;
const targetConfig: ModelConfig = { ...base, contextLength: SPEC_CTX, layers: 6, dModel: 192, hidden: 768, tieEmbeddings: false };
const draftConfig: ModelConfig = { ...targetConfig, layers: 1, dModel: 128, hidden: 512 };

// The corpus: Debian's license texts, bytes tokenizer; the last tenth of the rows is held out for validation.
const dir = "/usr/share/common-licenses";
const text = readdirSync(dir).sort().slice(0, 12).map((f) => { try { return readFileSync(join(dir, f), "utf8"); } catch { return ""; } }).join("\n");
const tokens = encodeText("bytes", text);
const allRows: Int32Array[] = [];
for (let i = 0; i + CTX + 1 <= tokens.length; i += CTX) allRows.push(Int32Array.from(tokens.slice(i, i + CTX + 1)));
const cut = Math.floor(allRows.length * 0.9);
const trainRows = allRows.slice(0, cut);
const valRows = allRows.slice(cut, cut + 64);

// The structured corpus: one pangram, repeated; rows of SPEC_CTX + 1 bytes at a stride prime to its length, so every
// phase of the sentence is seen. Validation rows start at other phases of the same text (it is learned by heart).
const SENTENCE = "the quick brown fox jumps over the lazy dog. ";
const repeated = encodeText("bytes", SENTENCE.repeat(400));
const specRowsFrom = (start: number, n: number) => Array.from({ length: n }, (_, i) => Int32Array.from(repeated.slice(start + i * (SPEC_CTX + 2), start + i * (SPEC_CTX + 2) + SPEC_CTX + 1)));
const specTrainRows = specRowsFrom(0, 256);
const specValRows = specRowsFrom(5, 8);

async function train(model: ModelConfig, steps = STEPS, rows = trainRows, batch = BATCH): Promise<{ arrays: NamedArray[]; seconds: number }> {
  const t = new Trainer(
    { model, optimizer: BENCH_ADAMW, schedule: { type: "cosine", peakLr: 3e-3, warmupSteps: Math.min(10, Math.ceil(steps / 10)), minLrRatio: 0.1, totalSteps: steps }, globalBatchSize: batch, microBatchSize: batch, gradClipNorm: 1, seed: 7 },
    new SoloCollective(),
  );
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) await t.step(s, Array.from({ length: batch }, (_, j) => rows[(s * batch + j) % rows.length] as Int32Array));
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

// 2. Speculative decoding: the big target and its draft, trained on the structured corpus.
const target = mha as { config: ModelConfig; arrays: NamedArray[] };
const targetTrained = await train(targetConfig, TARGET_STEPS, specTrainRows, SPEC_BATCH);
const draftTrained = await train(draftConfig, DRAFT_STEPS, specTrainRows, SPEC_BATCH);
const tw = modelWeights({ config: targetConfig, arrays: targetTrained.arrays });
const dw = modelWeights({ config: draftConfig, arrays: draftTrained.arrays });
const tm: DecodingModel = { config: targetConfig, weights: tw.weights };
const dm: DecodingModel = { config: draftConfig, weights: dw.weights };
const targetValLoss = (await perplexityOf(targetConfig, tw.weights, specValRows)).loss;
const draftValLoss = (await perplexityOf(draftConfig, dw.weights, specValRows)).loss;
const specPrompt = Array.from(specValRows[0]?.subarray(0, 8) ?? []);
const specRows: Row[] = [];
const spec: Record<string, { plainTps: number; specTps: number; speedup: number; acceptance: number; sameAsPlain: boolean }> = {};
for (const temperature of [0, 1]) {
  const k = 4;
  let acceptance = 0;
  let specTokens: number[] = [];
  let plainTokens: number[] = [];
  const plainTps = await rate(async () => {
    const r = await generate(tm, specPrompt, { maxNewTokens: SPEC_TOKENS, temperature, seed: 3 });
    plainTokens = r.tokens;
    return r.newTokens.length;
  });
  const specTps = await rate(async () => {
    const r = await speculativeGenerate(tm, dm, specPrompt, { maxNewTokens: SPEC_TOKENS, temperature, seed: 3, draftTokens: k });
    acceptance = r.accepted / r.proposed;
    specTokens = r.tokens;
    return r.newTokens.length;
  });
  const key = temperature === 0 ? "greedy" : "sample_t1";
  spec[key] = { plainTps, specTps, speedup: specTps / plainTps, acceptance, sameAsPlain: specTokens.join() === plainTokens.join() };
  specRows.push({ decoding: key, k, "plain tok/s": plainTps, "speculative tok/s": specTps, "speed-up": specTps / plainTps, "acceptance %": 100 * acceptance, "same tokens as plain": temperature === 0 ? String(spec[key]?.sameAsPlain) : "n/a (sampled)" });
}
tf.dispose(dw.flat);
const draftRatio = parameterCount(draftConfig) / parameterCount(targetConfig);
printTable(
  `Speculative decoding: target ${parameterCount(targetConfig)} params (6 layers, d 192; ${TARGET_STEPS} steps, ${targetTrained.seconds.toFixed(0)} s, val loss ${targetValLoss.toFixed(3)}), draft ${parameterCount(draftConfig)} (${(100 * draftRatio).toFixed(1)}%: 1 layer, d 128; ${DRAFT_STEPS} steps, val loss ${draftValLoss.toFixed(3)}), both ${SPEC_BATCH}×${SPEC_CTX}-token batches of "${SENTENCE.trim()}" repeated, ${SPEC_TOKENS} tokens after an 8-token prompt`,
  specRows,
);

// 4. Early exit on the speculative target (the draft is done with).
const exitRows: Row[] = [];
const exits: Record<string, { threshold: number; meanLayers: number; agreement: number; perplexity: number; pplDelta: number; greedyTps: number; plainTps: number; speedup: number; greedySameAsPlain: boolean; generatedMeanLayers: number }> = {};
const scored = specValRows.slice(0, 4);
const plainGreedy = await generate(tm, specPrompt, { maxNewTokens: SPEC_TOKENS, temperature: 0, seed: 1 });
const plainGreedyTps = await rate(async () => (await generate(tm, specPrompt, { maxNewTokens: SPEC_TOKENS, temperature: 0, seed: 1 })).newTokens.length);
let fullArgmax: number[] = [];
let fullPpl = 0;
for (const threshold of [1.01, 0.95, 0.8, 0.6, 0.4]) {
  const layers: number[] = [];
  const nll: number[] = [];
  const argmaxes: number[] = [];
  for (const row of scored) {
    const r = await earlyExitTeacherForced(tm, row, { threshold });
    layers.push(...r.layers);
    nll.push(...r.nll);
    argmaxes.push(...r.argmax);
  }
  const perplexity = Math.exp(nll.reduce((a, b) => a + b, 0) / nll.length);
  if (threshold > 1) [fullArgmax, fullPpl] = [argmaxes, perplexity];
  const agreement = argmaxes.filter((t, i) => t === fullArgmax[i]).length / argmaxes.length;
  let generated: number[] = [];
  let generatedLayers = 0;
  const greedyTps = await rate(async () => {
    const r = await earlyExitGenerate(tm, specPrompt, { maxNewTokens: SPEC_TOKENS, temperature: 0, seed: 1, threshold });
    [generated, generatedLayers] = [r.tokens, r.meanLayers];
    return r.newTokens.length;
  });
  const e = { threshold, meanLayers: meanLayers(layers), agreement, perplexity, pplDelta: (perplexity - fullPpl) / fullPpl, greedyTps, plainTps: plainGreedyTps, speedup: greedyTps / plainGreedyTps, greedySameAsPlain: generated.join() === plainGreedy.tokens.join(), generatedMeanLayers: generatedLayers };
  exits[threshold > 1 ? "never" : `t${threshold}`] = e;
  exitRows.push({ threshold: threshold > 1 ? "> 1 (never)" : threshold, "mean layers": e.meanLayers, "top-1 agrees with full depth %": 100 * agreement, perplexity, "Δ perplexity %": 100 * e.pplDelta, "greedy tok/s": greedyTps, "plain tok/s": plainGreedyTps, "speed-up": e.speedup, "greedy layers": generatedLayers, "greedy same as plain": String(e.greedySameAsPlain) });
}
tf.dispose(tw.flat);
printTable(`Early exit (experimental) on the 6-layer target: teacher-forced over ${scored.length}×${SPEC_CTX} held-out tokens (layers, agreement, perplexity), greedy ${SPEC_TOKENS} tokens (tok/s, layers)`, exitRows);

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
  speculative: { targetParams: parameterCount(targetConfig), draftParams: parameterCount(draftConfig), draftParamRatio: draftRatio, targetValLoss, draftValLoss, targetSteps: TARGET_STEPS, draftSteps: DRAFT_STEPS, ...spec },
  earlyExit: exits,
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
    earlyExitNeverEqualsPlain: exits["never"]?.greedySameAsPlain === true && exits["never"].meanLayers === targetConfig.layers,
    earlyExitSavesLayers: Object.values(exits).some((e) => e.meanLayers < targetConfig.layers - 1 && e.agreement >= 0.9),
  },
});
