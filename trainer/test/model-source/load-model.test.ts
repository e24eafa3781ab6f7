import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeCompressedModel } from "../../src/compress/compressed-model.js";
import { decodeSafetensors, encodeSafetensors, toNamedArray } from "../../src/checkpoint/safetensors.js";
import { loadModel, ModelLoadError } from "../../src/model-source/load-model.js";
import { exportHfGpt2 } from "../../src/interop/hf-gpt2.js";
import { initParams } from "../../src/model/init-params.js";
import { stateAt } from "@gantry/dataloader";
import { FileCheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { CheckpointWriter } from "../../src/checkpoint/checkpoint-writer.js";
import { cliExit } from "../../src/cli/command-shell.js";
import { PeftCheckpointError, peftManifestExtra } from "../../src/peft/peft-manifest.js";
import { LORA, randomPeft } from "../peft/fixtures.js";
import { TINY } from "../model/tiny.js";

const dir = await mkdtemp(join(tmpdir(), "gantry-load-"));

describe("loading a model", () => {
  it("reads a compressed model file with its own shape and tokenizer", async () => {
    const arrays = initParams(TINY, 1);
    const path = join(dir, "model-int8.safetensors");
    await writeFile(path, encodeCompressedModel(TINY, "bytes", arrays, { quantization: "int8-per-channel" }));
    const m = await loadModel(path);
    expect(m.kind).toBe("compressed");
    expect(m.config).toEqual(TINY);
    expect(m.tokenizer).toBe("bytes");
    expect(m.arrays.map((a) => a.name)).toEqual(arrays.map((a) => a.name));
  });

  it("refuses weights that do not match the recorded model config, naming the tensor", async () => {
    const path = join(dir, "mismatch.safetensors");
    // Weights of a 1-layer model under a 3-layer shape.
    const one = { ...TINY, layers: 1 };
    const { tensors, metadata } = decodeSafetensors(encodeCompressedModel(one, "bytes", initParams(one, 1), { quantization: "none" }));
    const patched = encodeSafetensors(tensors.map(toNamedArray), { ...metadata, "gantry.model": JSON.stringify({ ...one, layers: 3 }) });
    await writeFile(path, patched);
    const err = await loadModel(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(/do not match the model config \(3 layers.*parameter h\.1\.ln_1\.g: missing/);
  });

  it("refuses an unknown tokenizer", async () => {
    const path = join(dir, "tok.safetensors");
    await writeFile(path, encodeCompressedModel(TINY, "sentencepiece" as never, initParams(TINY, 1), { quantization: "none" }));
    await expect(loadModel(path)).rejects.toThrow(/unknown tokenizer "sentencepiece": expected one of/);
  });

  it("imports Hugging Face GPT-2 weights back to Gantry's, value for value", async () => {
    const arch = { ...TINY, mlpRatio: 4, activation: "gelu" as const, positionalEncoding: "learned" as const, tieEmbeddings: true };
    const arrays = initParams(TINY, 2);
    const files = exportHfGpt2(arrays, arch);
    const hf = join(dir, "hf");
    await import("node:fs/promises").then((fs) => fs.mkdir(hf));
    await writeFile(join(hf, "model.safetensors"), files["model.safetensors"]);
    await expect(loadModel(join(hf, "model.safetensors"))).rejects.toThrow(/no config.json with n_head/);
    await writeFile(join(hf, "config.json"), files["config.json"]);
    const m = await loadModel(`file://${join(hf, "model.safetensors")}`);
    expect(m.kind).toBe("hf-gpt2");
    expect(m.tokenizer).toBe("gpt2");
    expect(m.config).toEqual(TINY);
    expect(m.arrays).toEqual(arrays);
  });

  it("says when a checkpoint root holds no checkpoint", async () => {
    await expect(loadModel(`file://${join(dir, "empty")}`)).rejects.toThrow(/no whole checkpoint there/);
  });

  it("refuses a PEFT checkpoint (adapters only) with the merge command, exit 2, before matching any weight", async () => {
    const root = join(dir, "lora");
    const fp = "sha256:feed";
    await new CheckpointWriter(new FileCheckpointStore(root), { codeVersion: "test" }).save({
      step: 3,
      weights: randomPeft(TINY, LORA, 4),
      optimizer: [],
      tokensSeen: 0,
      worldSize: 1,
      configHash: "x",
      datasetFingerprint: fp,
      dataState: stateAt(3, { jobUid: "job", attempt: 0, fingerprint: fp, seed: 1, samplesPerEpoch: 100, globalBatch: 4, worldSize: 1, contextLength: TINY.contextLength, anchor: { step: 0, consumedSamples: 0 } }),
      extra: { model: JSON.stringify(TINY), tokenizer: "bytes", ...peftManifestExtra({ peft: LORA, base: { uri: "file:///base", format: "gantry", sha256: "0".repeat(64) } }) },
    });
    const err = await loadModel(`file://${root}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeftCheckpointError);
    expect((err as Error).message).toBe(`checkpoint file://${root}/step-00000003: holds lora adapters only, not a whole model; run \`gantry-train merge --checkpoint file://${root}/step-00000003 --out DIR\` for a plain checkpoint`);
    expect((err as Error).message).not.toMatch(/parameter wte/);
    expect(cliExit(err).code).toBe(2);
  });
});
