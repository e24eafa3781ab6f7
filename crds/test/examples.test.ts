// Every manifest in examples/ parses, and round-trips: parse(serialize(parse(x))) equals parse(x).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { buildOpenApiSchema } from "../src/crd/build.js";
import { parseJob } from "../src/parse.js";
import { celFailures } from "./support/apiserver-cel.js";

const dir = join(import.meta.dirname, "..", "..", "examples");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));

describe("examples", () => {
  it("include the five documented jobs", () => {
    expect(files.sort()).toEqual(["elastic-spot.yaml", "gpt2-small-s3.yaml", "lora-finetune.yaml", "tiny-cpu.yaml", "tiny-job.yaml"]);
  });

  for (const file of files) {
    it(`${file} parses, passes the CEL rules and round-trips`, () => {
      const manifest: unknown = parseYaml(readFileSync(join(dir, file), "utf8"));
      const first = parseJob(manifest);
      expect(first.ok ? [] : first.issues).toEqual([]);
      if (!first.ok) return;
      expect(celFailures(buildOpenApiSchema(), manifest as never)).toEqual([]);
      const again = parseJob(parseYaml(stringify(first.job)));
      expect(again.ok).toBe(true);
      if (again.ok) expect(again.job).toEqual(first.job);
    });
  }

  it("the elastic example runs between 2 and 8 workers on spot nodes", () => {
    const r = parseJob(parseYaml(readFileSync(join(dir, "elastic-spot.yaml"), "utf8")));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.job.spec.elastic).toEqual({ minWorkers: 2, maxWorkers: 8 });
    expect(r.job.spec.scheduling.tolerations?.[0]?.key).toBe("gantry.dev/spot");
  });
});
