// Defaults, types and self-documentation of the schema.
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { buildOpenApiSchema } from "../src/crd/build.js";
import type { JSONSchemaProps } from "../src/crd/structural.js";
import { parseJob, describeIssues } from "../src/parse.js";
import { resolveModelShape } from "../src/model-shape.js";
import { applyDefaults } from "./support/apiserver-cel.js";
import { minimalJob, withSpec } from "./support/manifests.js";

describe("a minimal manifest", () => {
  it("is valid and gets every default", () => {
    const r = parseJob(minimalJob());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { spec } = r.job;
    expect(spec.model.preset).toBe("tiny");
    expect(spec.data.format).toBe("jsonl");
    expect(spec.data.tokenizer).toBe("gpt2");
    expect(spec.data.prefetchBytes).toBe("256Mi");
    expect(spec.data.s3.region).toBe("us-east-1");
    expect(spec.training.optimizer).toEqual({ type: "adamw", lr: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
    expect(spec.training.schedule).toEqual({ type: "cosine", warmupSteps: 0, minLrRatio: 0.1 });
    expect(spec.parallelism).toEqual({ tensorParallel: 1, pipelineParallel: 1, zeroStage: 0, gradientCheckpointing: "none", pipelineSchedule: "1f1b", colocateTensorParallel: false });
    expect(spec.checkpointing).toEqual({ everySteps: 100, keepLast: 3, saveOnPreemption: true });
    expect(spec.workers).toBe(1);
    expect(spec.resources.gpuResourceName).toBe("nvidia.com/gpu");
    expect(spec.scheduling.terminationGracePeriodSeconds).toBe(120);
    expect(spec.runPolicy).toEqual({ backoffLimit: 3, maxPreemptions: 100 });
    expect(spec.suspend).toBe(false);
  });

  it("gets the same defaults from the CRD's OpenAPI schema as from zod", () => {
    const r = parseJob(minimalJob());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const defaulted = applyDefaults(buildOpenApiSchema(), minimalJob()) as { spec: unknown };
    expect(defaulted.spec).toEqual(r.job.spec);
  });

  it("fits in 10 lines of YAML", () => {
    const yaml = [
      "apiVersion: gantry.dev/v1alpha1",
      "kind: LLMTrainingJob",
      "metadata:",
      "  name: first-job",
      "spec:",
      "  data:",
      "    source: s3://corpora/web",
      "  training:",
      "    steps: 1000",
    ].join("\n");
    const r = parseJob(parseYaml(yaml));
    expect(r.ok ? r.job.spec.training.steps : r.issues).toBe(1000);
  });
});

describe("model shape", () => {
  it("takes the preset's values unless fields override them", () => {
    const r = parseJob(withSpec({ model: { preset: "gpt2-small", layers: 6, kvHeads: 4 } }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(resolveModelShape(r.job.spec.model, r.job.spec.data.tokenizer)).toEqual({
      vocabSize: 50257,
      contextLength: 1024,
      layers: 6,
      dModel: 768,
      heads: 12,
      kvHeads: 4,
    });
  });
});

describe("the OpenAPI schema documents itself", () => {
  it("has a description on every field", () => {
    const missing: string[] = [];
    const visit = (node: JSONSchemaProps, path: string) => {
      if (path !== "" && !node.description && !/^(apiVersion|kind|metadata)$/.test(path)) missing.push(path);
      for (const [k, child] of Object.entries(node.properties ?? {})) visit(child, path ? `${path}.${k}` : k);
      if (node.items?.properties) for (const [k, child] of Object.entries(node.items.properties)) visit(child, `${path}[].${k}`);
    };
    visit(buildOpenApiSchema(), "");
    expect(missing).toEqual([]);
  });
});

describe("issues", () => {
  it("read as path: message", () => {
    const r = parseJob(withSpec({ workers: 0, training: { steps: -1 } }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(describeIssues(r.issues)).toMatch(/spec\.training\.steps: .*spec\.workers: |spec\.workers: .*spec\.training\.steps: /);
  });
});
