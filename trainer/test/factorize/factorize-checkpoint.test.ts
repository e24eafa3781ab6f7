// gantry-factorize's work end to end on a local folder: read a checkpoint, write the factorized one, report.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { CheckpointReader } from "../../src/checkpoint/checkpoint-reader.js";
import { FileCheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { loadCheckpointModel } from "../../src/model-source/checkpoint-model.js";
import { factorizeCheckpoint } from "../../src/factorize/factorize-checkpoint.js";
import { planOfManifest } from "../../src/factorize/factorized-checkpoint.js";
import { expandFactors } from "../../src/factorize/factorize-weights.js";
import { meanCrossEntropy, rowsFromTokens } from "../../src/factorize/validation-loss.js";
import { forward } from "../../src/model/gpt.js";
import { structureWeights } from "../../src/model/gpt-weights.js";
import { initParams } from "../../src/model/init-params.js";
import { importParams } from "../../src/model/param-io.js";
import { TINY, tokenRows } from "../model/tiny.js";
import { writeModelCheckpoint } from "../distill/model-checkpoint.js";

const root = mkdtempSync(join(tmpdir(), "gantry-factorize-"));
const uri = (name: string) => pathToFileURL(join(root, name)).href;
const weights = initParams(TINY, 31);
const rows = tokenRows(6);

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
  await writeModelCheckpoint(new FileCheckpointStore(join(root, "dense")), TINY, weights);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("rowsFromTokens", () => {
  it("cuts rows of seqLen + 1 that overlap by one token, at most maxRows", () => {
    const t = Array.from({ length: 10 }, (_, i) => i);
    expect(rowsFromTokens(t, 3).map((r) => Array.from(r))).toEqual([[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]);
    expect(rowsFromTokens(t, 3, 2)).toHaveLength(2);
    expect(rowsFromTokens(t, 20)).toHaveLength(0);
  });
});

describe("factorizeCheckpoint", () => {
  it("writes the factors with their record, reports reduction and validation change, and reads back as the product", async () => {
    const r = await factorizeCheckpoint({ source: uri("dense"), output: uri("low"), request: { targets: ["q", "k", "v", "o", "up", "down"], rank: 4 }, rowsFor: () => rows });
    expect(r.plan.factors).toHaveLength(12);
    expect(r.reduction.after).toBeLessThan(r.reduction.before);
    expect(r.reports.every((f) => Math.abs(f.error - f.tail) / f.tail < 1e-5)).toBe(true);

    // The validation figures are the dense model's and the factorized model's losses on the given rows.
    const dense = importParams(TINY, weights);
    const before = await meanCrossEntropy((t) => forward(TINY, structureWeights(TINY, dense), t), rows);
    tf.dispose(dense);
    expect(r.validation?.rows).toBe(6);
    expect(r.validation?.before).toBeCloseTo(before, 5);
    expect(r.validation?.change).toBeCloseTo((r.validation?.after ?? 0) - before, 5);

    // On disk: .u/.v in place of each W, a smaller model file, and the plan in the manifest.
    const loaded = await new CheckpointReader(new FileCheckpointStore(join(root, "low"))).latest();
    expect(loaded?.weights.some((w) => w.name === "h.0.attn.q")).toBe(false);
    expect(loaded?.weights.find((w) => w.name === "h.0.mlp.fc.u")?.shape).toEqual([32, 4]);
    expect(planOfManifest(loaded?.manifest ?? {})?.factors).toEqual(r.plan.factors);
    const bytes = (name: string) => statSync(join(root, name, "step-00000010", "model.safetensors")).size;
    expect(bytes("low")).toBeLessThan(bytes("dense"));

    // Read as a model (teacher, gantry-serve), the pairs are multiplied out, and its loss is the reported one.
    const back = await loadCheckpointModel(uri("low"));
    expect(back.arrays.map((w) => w.name)).toEqual(weights.map((w) => w.name));
    expect(back.arrays).toEqual(expandFactors(TINY, loaded?.weights ?? [], r.plan));
    const backTensors = importParams(TINY, back.arrays);
    const after = await meanCrossEntropy((t) => forward(TINY, structureWeights(TINY, backTensors), t), rows);
    tf.dispose(backTensors);
    expect(after).toBeCloseTo(r.validation?.after ?? NaN, 4);
  });

  it("--dense writes the product under the original names, which plain readers load", async () => {
    const r = await factorizeCheckpoint({ source: uri("dense"), output: uri("dense-out"), request: { targets: ["up"], rank: 8 }, dense: true });
    expect(r.validation).toBeUndefined();
    const loaded = await new CheckpointReader(new FileCheckpointStore(join(root, "dense-out"))).latest();
    expect(loaded?.weights.map((w) => w.name)).toEqual(weights.map((w) => w.name));
    expect(loaded?.manifest.extra?.["factorized"]).toBeUndefined();
    expect(() => importParams(TINY, loaded?.weights ?? [])).not.toThrow();
  });

  it("names the URI when there is no checkpoint", async () => {
    await expect(factorizeCheckpoint({ source: uri("nothing"), output: uri("x"), request: { targets: ["q"], rank: 2 } })).rejects.toThrow(/nothing: no whole checkpoint there/);
  });
});
