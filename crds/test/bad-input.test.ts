// A table of invalid manifests: each must be rejected with an issue on the named field path.
import { describe, expect, it } from "vitest";
import { parseJob } from "../src/parse.js";
import { BAD_MANIFESTS } from "./support/bad-manifests.js";

describe("invalid manifests are rejected with the field path", () => {
  it("has at least 25 cases", () => {
    expect(BAD_MANIFESTS.length).toBeGreaterThanOrEqual(25);
  });
  for (const bad of BAD_MANIFESTS) {
    it(bad.name, () => {
      const result = parseJob(bad.manifest);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      const atPath = result.issues.filter((i) => i.path === bad.path);
      expect(atPath, `issues were: ${JSON.stringify(result.issues)}`).not.toEqual([]);
      if (bad.message) expect(atPath.map((i) => i.message).join("\n")).toMatch(bad.message);
    });
  }
});
