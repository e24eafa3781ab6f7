// A LoRA job through the operator like any other job: real trainer pods on agent-run spot nodes, its base a Gantry
// checkpoint on the real S3 server. Reclaimed mid-training, it succeeds with one preemption and bitwise the adapters
// (and their optimizer state) of the same LoRA job left alone; its checkpoints hold the adapters and name their base.
// A distillation job's pods load their teacher (the same checkpoint) from the spec's S3 URI.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseJob } from "@gantry/crds";
import { stateAt } from "@gantry/dataloader";
import type { Controller } from "../../operator/src/controller/controller.js";
import { S3CheckpointStore } from "../../trainer/src/checkpoint/checkpoint-store.js";
import { CheckpointWriter } from "../../trainer/src/checkpoint/checkpoint-writer.js";
import { initParams } from "../../trainer/src/model/init-params.js";
import { modelConfigFromSpec } from "../../trainer/src/model/model-config.js";
import { peftConfigFromSpec } from "../../trainer/src/peft/peft-config.js";
import { peftParameterCount } from "../../trainer/src/peft/peft-layout.js";
import { Story } from "../e2e/support/story.js";
import { ensureCrd, kubeConfig } from "../support/kube.js";
import { Nodes } from "../support/nodes.js";
import { AGENT_NODE_PLAN, startOperator } from "../support/operator.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const nodes = new Nodes(kc);
let story: Story;
let operator: Controller;
let baseUri: string;

const STEPS = 24;
const PAIR = "gantry.dev/peft-pair";
const peft = { method: "lora", lora: { rank: 4, alpha: 8, dropout: 0.1, targetModules: ["q", "v", "down"] } };

/** The story's job spec as a LoRA job on `pair`'s nodes, starting from the base on S3. */
function loraSpec(pair: string): Record<string, unknown> {
  const s = story.spec({ workers: 1, steps: STEPS, scheduling: { nodeSelector: { "gantry.dev/test-pool": story.ns.name, [PAIR]: pair } } });
  return { ...s, model: { ...(s["model"] as object), pretrained: { uri: baseUri } }, peft };
}

/** The LoRA job's spec as the operator reads it (defaults filled in). */
function parsedLoraSpec() {
  const parsed = parseJob({ apiVersion: "gantry.dev/v1alpha1", kind: "LLMTrainingJob", metadata: { name: "x", namespace: "x" }, spec: loraSpec("ref") });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.job.spec;
}

beforeAll(async () => {
  await ensureCrd(env);
  story = await Story.open(env, kc, "peft");
  // The pretrained base: a Gantry checkpoint of the job's shape, written to S3 the way a finished job leaves one.
  const prefix = `peft/${story.ns.name}/base/`;
  baseUri = `s3://${env.S3_BUCKET}/${prefix.slice(0, -1)}`;
  const config = modelConfigFromSpec(parsedLoraSpec());
  const fp = "sha256:base";
  await new CheckpointWriter(new S3CheckpointStore(story.s3, env.S3_BUCKET, prefix), { codeVersion: "test" }).save({
    step: 100,
    weights: initParams(config, 42),
    optimizer: [],
    tokensSeen: 0,
    worldSize: 1,
    configHash: "base",
    datasetFingerprint: fp,
    dataState: stateAt(100, { jobUid: "base", attempt: 0, fingerprint: fp, seed: 1, samplesPerEpoch: 1000, globalBatch: 4, worldSize: 1, contextLength: 32, anchor: { step: 0, consumedSamples: 0 } }),
    extra: { model: JSON.stringify(config), tokenizer: "bytes" },
  });
  operator = await startOperator(kc, env, story.ns.name, AGENT_NODE_PLAN);
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  await story?.close();
});

describe("a LoRA job through the operator", () => {
  it("reclaimed mid-training, it succeeds with one preemption and bitwise the adapters of an undisturbed LoRA job", async () => {
    await story.addNode("a", { [PAIR]: "ref" });
    await story.addNode("b", { [PAIR]: "story" });
    await story.jobs.create("lora-ref", loraSpec("ref"));
    await story.jobs.create("lora", loraSpec("story"));

    await story.jobs.waitPhase("lora", "Running", 0, 120_000);
    await waitFor("the LoRA job's first checkpoint", () => story.manifest("lora", 4), (m) => m !== undefined, { timeoutMs: 180_000, intervalMs: 250 });
    const victim = (await story.jobs.livePods("lora"))[0]?.spec?.nodeName ?? "";
    expect(victim).not.toBe("");
    await nodes.reclaimSpot(victim);
    await story.addNode("c", { [PAIR]: "story" });

    const done = await story.jobs.waitPhase("lora", "Succeeded", undefined, 420_000);
    await story.jobs.waitPhase("lora-ref", "Succeeded", undefined, 420_000);
    expect(done.status?.restarts, JSON.stringify(await story.jobs.events("lora"))).toEqual({ preemption: 1, failure: 0 });

    const [mine, theirs] = [await story.manifest("lora", STEPS), await story.manifest("lora-ref", STEPS)];
    expect(mine?.files["model.safetensors"]?.sha256).toBe(theirs?.files["model.safetensors"]?.sha256);
    expect(mine?.files["optimizer.safetensors"]?.sha256).toBe(theirs?.files["optimizer.safetensors"]?.sha256);
    expect((await story.losses("lora")).train).toEqual((await story.losses("lora-ref")).train);
    expect(mine?.dataState.consumedSamples).toBe(STEPS * 4);

    // The checkpoint is the adapters alone, and names the base on S3 by URI and hash.
    const raw = JSON.parse((await story.readObject(`${story.checkpointPrefix("lora")}step-${String(STEPS).padStart(8, "0")}/manifest.json`))?.toString("utf8") ?? "{}") as { extra: Record<string, string>; files: Record<string, { bytes: number }> };
    expect(raw.extra["peft.method"]).toBe("lora");
    expect(raw.extra["peft.base.uri"]).toBe(baseUri);
    expect(raw.extra["peft.base.sha256"]).toMatch(/^[0-9a-f]{64}$/);
    const spec = parsedLoraSpec();
    const adapters = peftParameterCount(modelConfigFromSpec(spec), peftConfigFromSpec(spec) as NonNullable<ReturnType<typeof peftConfigFromSpec>>);
    // float32 values plus a small JSON header.
    expect(raw.files["model.safetensors"]?.bytes).toBeGreaterThan(4 * adapters);
    expect(raw.files["model.safetensors"]?.bytes).toBeLessThan(4 * adapters + 4096);
  }, 900_000);

  it("a distillation job's pods load the teacher from the spec's S3 URI, train and record the teacher", async () => {
    await story.addNode("d", { [PAIR]: "distill" });
    const s = story.spec({ workers: 1, steps: 8, scheduling: { nodeSelector: { "gantry.dev/test-pool": story.ns.name, [PAIR]: "distill" } } });
    const distillation = { teacher: { uri: baseUri }, alpha: 0.25, temperature: 2 };
    await story.jobs.create("student", { ...s, distillation });
    const done = await story.jobs.waitPhase("student", "Succeeded", undefined, 300_000);
    expect(done.status?.restarts, JSON.stringify(await story.jobs.events("student"))).toEqual({ preemption: 0, failure: 0 });
    const raw = JSON.parse((await story.readObject(`${story.checkpointPrefix("student")}step-00000008/manifest.json`))?.toString("utf8") ?? "{}") as { extra: Record<string, string> };
    expect(JSON.parse(raw.extra["distillation"] ?? "{}")).toEqual({ teacher: { uri: baseUri, format: "gantry" }, alpha: 0.25, temperature: 2 });
    const losses = (await story.losses("student")).train;
    expect(losses.map((l) => l.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(losses.every((l) => Number.isFinite(l.loss))).toBe(true);
  }, 600_000);
});
