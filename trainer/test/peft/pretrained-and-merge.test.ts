// Pretrained starts and `gantry-train merge` on local folders: a Gantry checkpoint (root or step directory) and a
// Hugging Face GPT-2 model.safetensors load as the same weights; a PEFT checkpoint is refused as a base with the merge
// hint; objectiveForSpec picks the objective and checks a resume's base hash; mergeCheckpoint writes a plain
// checkpoint whose weights are the LoRA fold of the base.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJob, type JobSpec } from "@gantry/crds";
import { stateAt } from "@gantry/dataloader";
import { selectBackend } from "../../src/backend/select-backend.js";
import { CheckpointReader } from "../../src/checkpoint/checkpoint-reader.js";
import { FileCheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { CheckpointWriter } from "../../src/checkpoint/checkpoint-writer.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { decodeSafetensors, toNamedArray } from "../../src/checkpoint/safetensors.js";
import { exportHfGpt2 } from "../../src/interop/hf-gpt2.js";
import { ParamImportError } from "../../src/model/param-io.js";
import { mergePeft } from "../../src/peft/merge-lora.js";
import { mergeCheckpoint } from "../../src/peft/merge-checkpoint.js";
import { BaseMismatchError, PeftCheckpointError, peftManifestExtra } from "../../src/peft/peft-manifest.js";
import { exitFor } from "../../src/run/exit-code.js";
import { objectiveForSpec, planObjective } from "../../src/run/objective-for-spec.js";
import { PretrainedLoadError, hfGpt2ToGantry, loadPretrained } from "../../src/run/pretrained.js";
import { trainConfigFromSpec } from "../../src/train/train-config.js";
import { TINY as TINY64 } from "../model/tiny.js";
import { LORA, baseArrays, bytesOf, randomPeft } from "./fixtures.js";

// The bytes tokenizer has 256 ids, the smallest vocabulary a spec allows.
const TINY = { ...TINY64, vocabSize: 256 };
let dir: string;
const FP = "sha256:feed";
const dataState = (step: number) => stateAt(step, { jobUid: "job", attempt: 0, fingerprint: FP, seed: 1, samplesPerEpoch: 100, globalBatch: 4, worldSize: 1, contextLength: 16, anchor: { step: 0, consumedSamples: 0 } });

async function writeCheckpoint(root: string, step: number, weights: readonly NamedArray[], extra: Record<string, string> = {}): Promise<void> {
  await new CheckpointWriter(new FileCheckpointStore(root), { codeVersion: "test" }).save({
    step,
    weights,
    optimizer: [],
    tokensSeen: 0,
    worldSize: 1,
    configHash: "x",
    datasetFingerprint: FP,
    dataState: dataState(step),
    extra: { model: JSON.stringify(TINY), tokenizer: "bytes", ...extra },
  });
}

const url = (...p: string[]) => pathToFileURL(join(dir, ...p)).href;

function specWith(extra: Partial<Record<"peft" | "pretrained", unknown>>): JobSpec {
  const r = parseJob({
    apiVersion: "gantry.dev/v1alpha1",
    kind: "LLMTrainingJob",
    metadata: { name: "j", namespace: "default" },
    spec: {
      model: { layers: 2, dModel: 32, heads: 4, contextLength: 16, vocabSize: 256, ...(extra.pretrained === undefined ? {} : { pretrained: extra.pretrained }) },
      data: { source: "file:///data", tokenizer: "bytes" },
      training: { steps: 1 },
      ...(extra.peft === undefined ? {} : { peft: extra.peft }),
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.job.spec;
}

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
  dir = mkdtempSync(join(tmpdir(), "gantry-peft-"));
  await writeCheckpoint(join(dir, "base"), 5, baseArrays(TINY));
  await writeCheckpoint(join(dir, "base"), 9, baseArrays(TINY).map((a) => ({ ...a, data: (a.data as Float32Array).map((x) => x + 1) })));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loadPretrained", () => {
  it("a Gantry root loads its newest whole step; a step directory loads that step", async () => {
    const newest = await loadPretrained({ uri: url("base"), format: "gantry" }, TINY);
    const five = await loadPretrained({ uri: url("base", "step-00000005"), format: "gantry" }, TINY);
    expect(bytesOf(five.weights).equals(bytesOf(baseArrays(TINY)))).toBe(true);
    expect(bytesOf(newest.weights).equals(bytesOf(five.weights))).toBe(false);
    expect(newest.sha256).not.toBe(five.sha256);
    expect(five.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a Hugging Face GPT-2 model.safetensors (exported, with GPT-2's longer position table and mask buffers) loads as the same weights", async () => {
    const files = exportHfGpt2(baseArrays(TINY), { ...TINY, mlpRatio: 4 });
    const hf = decodeSafetensors(files["model.safetensors"]).tensors.map(toNamedArray);
    // What transformers writes on top: unprefixed names (GPT2Model), 1024 positions, causal-mask buffers.
    const wpe = hf.find((t) => t.name === "transformer.wpe.weight") as NamedArray;
    const longer = new Float32Array(64 * 32);
    longer.set(wpe.data as Float32Array);
    const upstream: NamedArray[] = hf.map((t) => (t === wpe ? { name: "wpe.weight", shape: [64, 32], data: longer } : { ...t, name: t.name.replace(/^transformer\./, "") }));
    upstream.push({ name: "h.0.attn.bias", shape: [1, 1, 16, 16], data: new Float32Array(256) });
    expect(bytesOf(hfGpt2ToGantry(upstream, TINY)).equals(bytesOf(baseArrays(TINY)))).toBe(true);
    writeFileSync(join(dir, "model.safetensors"), files["model.safetensors"]);
    const fromFile = await loadPretrained({ uri: url("model.safetensors"), format: "hf-safetensors" }, TINY);
    const fromDir = await loadPretrained({ uri: pathToFileURL(dir).href, format: "hf-safetensors" }, TINY);
    expect(bytesOf(fromFile.weights).equals(bytesOf(baseArrays(TINY)))).toBe(true);
    expect(fromDir.sha256).toBe(fromFile.sha256);
  });

  it("refuses what does not fit, naming the URI; these are configuration errors (exit 2)", async () => {
    const wider = { ...TINY, dModel: 64, hidden: 256 };
    const err = await loadPretrained({ uri: url("base"), format: "gantry" }, wider).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PretrainedLoadError);
    expect(String(err)).toMatch(/base: does not fit spec.model: parameter wte: shape \[256,32\] is not \[256,64\]/);
    expect(exitFor(err).code).toBe(2);
    await expect(loadPretrained({ uri: url("nothing"), format: "gantry" }, TINY)).rejects.toThrow(/holds no whole checkpoint/);
    await expect(loadPretrained({ uri: url("missing.safetensors"), format: "hf-safetensors" }, TINY)).rejects.toThrow(PretrainedLoadError);
    await expect(loadPretrained({ uri: url("model.safetensors"), format: "hf-safetensors" }, { ...TINY, kvHeads: 2 })).rejects.toThrow(/kvHeads/);
    expect(() => hfGpt2ToGantry([], TINY)).toThrow(/wte.weight is missing/);
    await expect(loadPretrained({ uri: "s3://models/gpt2", format: "gantry" }, TINY)).rejects.toThrow(/is on S3, but this run has no S3 client/);
  });
});

describe("objectiveForSpec", () => {
  it("plans full training, full fine-tuning from a pretrained model, or PEFT", () => {
    const pretrained = { uri: url("base"), format: "gantry" };
    expect(planObjective(specWith({})).kind).toBe("full");
    expect(planObjective(specWith({ pretrained })).kind).toBe("full-pretrained");
    expect(planObjective(specWith({ pretrained, peft: { lora: { rank: 2 } } }))).toMatchObject({ kind: "peft", peft: { method: "lora", rank: 2, targets: ["q", "v"] } });
  });

  it("a PEFT setup starts from the identity adapters, records its base, and refuses to resume on another base or method", async () => {
    const spec = specWith({ pretrained: { uri: url("base", "step-00000005"), format: "gantry" }, peft: { lora: { rank: 2 } } });
    const setup = await objectiveForSpec(spec, trainConfigFromSpec(spec));
    expect(setup.counts.trainable).toBe(2 * 2 * (2 * (32 + 32)));
    expect(setup.initial().map((a) => a.name)).toEqual(setup.objective.trainable.map((p) => p.name));
    const extra = setup.checkpointExtra;
    expect(extra["peft.method"]).toBe("lora");
    expect(extra["peft.base.uri"]).toBe(url("base", "step-00000005"));
    expect(extra["peft.base.sha256"]).toBe((await loadPretrained({ uri: url("base", "step-00000005"), format: "gantry" }, TINY)).sha256);
    expect(() => setup.checkResume({ extra }, "here")).not.toThrow();
    expect(() => setup.checkResume({ extra: { ...extra, "peft.base.sha256": "0".repeat(64) } }, "here")).toThrow(BaseMismatchError);
    expect(() => setup.checkResume({ extra: { model: "{}" } }, "here")).toThrow(/whole-model checkpoint/);
    const other = JSON.stringify({ ...JSON.parse(extra["peft.config"] as string), rank: 4 });
    expect(() => setup.checkResume({ extra: { ...extra, "peft.config": other } }, "here")).toThrow(/spec.peft now asks/);
    setup.dispose();
    // A full job refuses a PEFT checkpoint (its weights are adapters only).
    const full = await objectiveForSpec(specWith({}), trainConfigFromSpec(specWith({})));
    expect(() => full.checkResume({ extra }, "there")).toThrow(PeftCheckpointError);
  });
});

describe("mergeCheckpoint", () => {
  it("folds a LoRA checkpoint into its base: a plain checkpoint that loads as a pretrained model and as HF GPT-2", async () => {
    const lora = randomPeft(TINY, LORA, 4);
    const base = await loadPretrained({ uri: url("base", "step-00000005"), format: "gantry" }, TINY);
    const extra = peftManifestExtra({ peft: LORA, base: { uri: url("base", "step-00000005"), format: "gantry", sha256: base.sha256 } });
    await writeCheckpoint(join(dir, "lora"), 12, lora, extra);
    // The adapters-only checkpoint is refused as a pretrained base, with the way out in the message.
    await expect(loadPretrained({ uri: url("lora"), format: "gantry" }, TINY)).rejects.toThrow(/gantry-train merge --checkpoint .*lora\/step-00000012 --out DIR/);

    const r = await mergeCheckpoint({ checkpoint: url("lora"), out: url("merged"), hfOut: url("hf"), codeVersion: "test" });
    expect(r.written.step).toBe(12);
    expect(r.adapterParameters).toBe(lora.reduce((n, a) => n + a.data.length, 0));
    const merged = await new CheckpointReader(new FileCheckpointStore(join(dir, "merged"))).latest();
    expect(merged?.manifest.extra?.["merged.from"]).toBe(url("lora", "step-00000012"));
    const want = mergePeft(TINY, LORA, baseArrays(TINY), lora);
    expect(bytesOf(merged?.weights ?? []).equals(bytesOf(want))).toBe(true);
    expect(bytesOf((await loadPretrained({ uri: url("merged"), format: "gantry" }, TINY)).weights).equals(bytesOf(want))).toBe(true);
    expect(bytesOf((await loadPretrained({ uri: url("hf"), format: "hf-safetensors" }, TINY)).weights).equals(bytesOf(want))).toBe(true);
    // A merged checkpoint has nothing left to merge; a base that changed under the adapters is refused.
    await expect(mergeCheckpoint({ checkpoint: url("merged"), out: url("again"), codeVersion: "test" })).rejects.toThrow(/nothing to merge/);
    await writeCheckpoint(join(dir, "drifted"), 3, lora, { ...extra, "peft.base.uri": url("base") });
    await expect(mergeCheckpoint({ checkpoint: url("drifted"), out: url("x"), codeVersion: "test" })).rejects.toThrow(BaseMismatchError);
  });

  it("adapter tensors of the wrong shape are named", () => {
    const lora = randomPeft(TINY, LORA, 4);
    const bad = lora.map((a, i) => (i === 0 ? { ...a, shape: [a.shape[1] as number, a.shape[0] as number] } : a));
    expect(() => mergePeft(TINY, LORA, baseArrays(TINY), bad)).toThrow(ParamImportError);
  });
});
