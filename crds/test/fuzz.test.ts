// parseJob never throws: random JSON and mutated valid manifests only ever produce issues.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJob } from "../src/parse.js";
import { minimalJob } from "./support/manifests.js";

type Plain = Record<string, unknown>;

function setAt(obj: Plain, path: string[], value: unknown): Plain {
  const [head, ...rest] = path;
  if (head === undefined) return obj;
  const copy: Plain = { ...obj };
  const child = copy[head];
  copy[head] = rest.length === 0 ? value : setAt(typeof child === "object" && child !== null ? (child as Plain) : {}, rest, value);
  return copy;
}

const PATHS = [
  ["spec"],
  ["spec", "workers"],
  ["spec", "data"],
  ["spec", "data", "streams"],
  ["spec", "training", "globalBatchSize"],
  ["spec", "training", "microBatchSize"],
  ["spec", "model"],
  ["spec", "model", "preset"],
  ["spec", "model", "heads"],
  ["spec", "elastic"],
  ["spec", "peft"],
  ["spec", "parallelism", "tensorParallel"],
  ["spec", "resources", "gpusPerWorker"],
  ["metadata"],
  ["metadata", "name"],
];

function checkResult(input: unknown, old?: unknown) {
  const r = parseJob(input, old === undefined ? {} : { old });
  if (r.ok) {
    expect(r.job.kind).toBe("LLMTrainingJob");
  } else {
    expect(r.issues.length).toBeGreaterThan(0);
    for (const i of r.issues) {
      expect(typeof i.path).toBe("string");
      expect(i.message.length).toBeGreaterThan(0);
    }
  }
}

describe("parseJob under fuzzing", () => {
  it("returns issues for arbitrary JSON", () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => checkResult(v)), { numRuns: 2000, seed: 42 });
  });

  it("returns issues or a job for valid manifests with one field replaced by random JSON", () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), fc.jsonValue({ maxDepth: 3 }), fc.option(fc.jsonValue({ maxDepth: 2 })), (path, value, old) => {
        checkResult(setAt(minimalJob(), path, value), old ?? undefined);
      }),
      { numRuns: 3000, seed: 7 },
    );
  });

  it("handles small integers in every numeric field without throwing (division by zero and friends)", () => {
    const numeric = PATHS.filter((p) => ["workers", "globalBatchSize", "microBatchSize", "heads", "tensorParallel", "gpusPerWorker"].includes(p.at(-1) ?? ""));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -2, max: 9 }), { minLength: numeric.length, maxLength: numeric.length }), (values) => {
        let job = minimalJob();
        numeric.forEach((p, i) => (job = setAt(job, p, values[i])));
        checkResult(job);
      }),
      { numRuns: 2000, seed: 3 },
    );
  });
});
