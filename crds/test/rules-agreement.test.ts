// One table of cases, run through parseJob's TypeScript rules and through the CRD's CEL rules: both must agree.
import { describe, expect, it } from "vitest";
import { buildOpenApiSchema } from "../src/crd/build.js";
import { parseJob } from "../src/parse.js";
import { CROSS_FIELD_RULES } from "../src/rules.js";
import { celFailures } from "./support/apiserver-cel.js";
import { CASES, type Case } from "./support/rule-cases.js";

const schema = buildOpenApiSchema();
const ruleByMessage = new Map(CROSS_FIELD_RULES.map((r) => [r.message, r.id]));

function zodFailures(c: Case) {
  const result = parseJob(c.manifest, c.old ? { old: c.old } : {});
  if (result.ok) return [];
  const unexplained = result.issues.filter((i) => i.rule === undefined);
  expect(unexplained, "case must pass the schema; only cross-field rules may fail").toEqual([]);
  return result.issues.map((i) => ({ id: i.rule ?? "", path: i.path }));
}

describe("CEL rules and parseJob agree on every case", () => {
  it("covers every rule with a failing and a passing case", () => {
    const failing = new Set(CASES.flatMap((c) => c.fails));
    expect([...failing].sort()).toEqual(CROSS_FIELD_RULES.map((r) => r.id).sort());
  });

  for (const c of CASES) {
    it(c.name, () => {
      const fromZod = zodFailures(c);
      const fromCel = celFailures(schema, c.manifest as never, c.old as never);
      expect(fromCel.filter((f) => f.error !== undefined)).toEqual([]);
      // A rule without a fieldPath (those on metadata) is reported on its node; parseJob names the field inside it.
      const celIds = fromCel.map((f) => {
        const id = ruleByMessage.get(f.message) ?? `unknown: ${f.message}`;
        const zodPath = fromZod.find((z) => z.id === id)?.path;
        const path = !f.hasFieldPath && zodPath?.startsWith(f.path) ? zodPath : f.path;
        return { id, path };
      });
      const sort = (xs: Array<{ id: string; path: string }>) => [...xs].sort((a, b) => a.id.localeCompare(b.id));
      expect(sort(fromZod).map((f) => f.id)).toEqual([...c.fails].sort());
      expect(sort(celIds)).toEqual(sort(fromZod));
    });
  }
});
