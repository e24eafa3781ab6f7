// The committed CRD and API docs are exactly what the generator writes from the schema.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { renderApiDocs } from "../src/crd/api-docs.js";
import { buildCrd } from "../src/crd/build.js";
import { renderCrdYaml } from "../src/crd/render.js";
import type { JSONSchemaProps } from "../src/crd/structural.js";
import { CROSS_FIELD_RULES } from "../src/rules.js";

const root = join(import.meta.dirname, "..", "..");

describe("generated CRD", () => {
  it("matches crds/llmtrainingjob.yaml (run make crds after changing the schema)", () => {
    expect(readFileSync(join(root, "crds", "llmtrainingjob.yaml"), "utf8")).toBe(renderCrdYaml());
  });

  it("matches docs/api.md", () => {
    expect(readFileSync(join(root, "docs", "api.md"), "utf8")).toBe(renderApiDocs());
  });

  const crd = buildCrd();
  const version = crd.spec.versions[0];

  it("names the resource", () => {
    expect(crd.metadata.name).toBe("llmtrainingjobs.gantry.dev");
    expect(crd.spec.names.shortNames).toEqual(["llmjob", "ltj"]);
    expect(crd.spec.names.categories).toContain("gantry");
  });

  it("has status and scale subresources on workers", () => {
    expect(version?.subresources.status).toEqual({});
    expect(version?.subresources.scale.specReplicasPath).toBe(".spec.workers");
  });

  it("prints Phase, Workers, Layout, Step, Loss, Attempt and Age", () => {
    expect(version?.additionalPrinterColumns.map((c) => c.name)).toEqual(["Phase", "Workers", "Layout", "Step", "Loss", "Attempt", "Age"]);
    expect(version?.additionalPrinterColumns.find((c) => c.name === "Layout")).toMatchObject({ jsonPath: ".status.parallelism.layout", type: "string" });
  });

  it("is structural: every node typed, no anyOf/oneOf/$ref, no additionalProperties beside properties", () => {
    const problems: string[] = [];
    const visit = (node: JSONSchemaProps, path: string) => {
      if (!node.type && node["x-kubernetes-preserve-unknown-fields"] !== true) problems.push(`${path}: no type`);
      for (const k of ["anyOf", "oneOf", "allOf", "$ref", "nullable"]) if (k in node) problems.push(`${path}: ${k}`);
      if (node.properties && node.additionalProperties !== undefined) problems.push(`${path}: properties and additionalProperties`);
      for (const [k, child] of Object.entries(node.properties ?? {})) visit(child, `${path}.${k}`);
      if (node.items) visit(node.items, `${path}[]`);
      if (typeof node.additionalProperties === "object") visit(node.additionalProperties, `${path}{}`);
    };
    const schema = version?.schema.openAPIV3Schema;
    expect(schema).toBeDefined();
    if (schema) visit(schema, "");
    expect(problems).toEqual([]);
  });

  it("carries every cross-field rule as CEL, with the immutable model as a transition rule", () => {
    const yaml = parseYaml(renderCrdYaml()) as typeof crd;
    const text = JSON.stringify(yaml);
    for (const rule of CROSS_FIELD_RULES) expect(text).toContain(JSON.stringify(rule.cel).slice(1, -1));
    const model = yaml.spec.versions[0]?.schema.openAPIV3Schema.properties?.["spec"]?.properties?.["model"];
    expect(model?.["x-kubernetes-validations"]).toEqual([expect.objectContaining({ rule: "self == oldSelf" })]);
  });

  it("keeps enums, bounds, patterns and defaults", () => {
    const spec = version?.schema.openAPIV3Schema.properties?.["spec"];
    const parallelism = spec?.properties?.["parallelism"]?.properties;
    expect(parallelism?.["zeroStage"]).toMatchObject({ type: "integer", minimum: 0, maximum: 3, default: 0 });
    expect(parallelism?.["gradientCheckpointing"]?.enum).toEqual(["none", "full", "selective"]);
    expect(spec?.properties?.["data"]?.properties?.["source"]?.["pattern"]).toMatch(/s3/);
  });
});
