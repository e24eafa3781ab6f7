// The offline validator: exit 0 and "valid" for good manifests, exit 1 and "path: message" lines for bad ones.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const tsx = join(root, "node_modules", ".bin", "tsx");
const cli = join(root, "crds", "src", "cli", "validate.ts");

function validate(...files: string[]) {
  const r = spawnSync(tsx, [cli, ...files], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("gantry-validate", () => {
  it("accepts the examples", () => {
    const r = validate(join(root, "examples", "tiny-cpu.yaml"), join(root, "examples", "elastic-spot.yaml"));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/tiny-cpu.yaml: valid \(tiny-shakespeare\)/);
    expect(r.out).toMatch(/elastic-spot.yaml: valid \(elastic-spot\)/);
  });

  it("names each bad field, document by document, and exits 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-validate-"));
    const file = join(dir, "jobs.yaml");
    writeFileSync(
      file,
      [
        "apiVersion: gantry.dev/v1alpha1",
        "kind: LLMTrainingJob",
        "metadata: {name: good}",
        "spec: {data: {source: 'file:///d'}, training: {steps: 1}}",
        "---",
        "apiVersion: gantry.dev/v1alpha1",
        "kind: LLMTrainingJob",
        "metadata: {name: bad}",
        "spec: {data: {source: 'file:///d'}, training: {steps: 1}, workers: 3}",
      ].join("\n"),
    );
    const r = validate(file);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/jobs.yaml#1: valid \(good\)/);
    expect(r.err).toMatch(/jobs.yaml#2: spec.training.globalBatchSize: training.globalBatchSize must be a multiple/);
  });

  it("reports an unreadable file by name", () => {
    const r = validate("/nonexistent/job.yaml");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\/nonexistent\/job.yaml: cannot read: .*ENOENT/);
  });
});
