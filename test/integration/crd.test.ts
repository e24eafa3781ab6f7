// The generated CRD on the real kube-apiserver: it installs, documents itself in kubectl explain, accepts the examples,
// and rejects bad manifests with the same field paths and rule messages as parseJob.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { BAD_MANIFESTS } from "../../crds/test/support/bad-manifests.js";
import { CASES } from "../../crds/test/support/rule-cases.js";
import { CROSS_FIELD_RULES } from "../../crds/src/rules.js";
import { REPO_ROOT } from "../support/cluster-env.js";
import { freshNamespace, kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const CRD_FILE = join(REPO_ROOT, "crds", "llmtrainingjob.yaml");
let ns: TestNamespace;

const inNamespace = (manifest: unknown, namespace: string) => {
  const m = structuredClone(manifest) as { metadata?: Record<string, unknown> };
  m.metadata = { ...(m.metadata ?? {}), namespace };
  return stringify(m);
};

beforeAll(async () => {
  const applied = kubectl(env, ["apply", "--server-side", "--force-conflicts", "-f", CRD_FILE]);
  expect(applied.stderr).toBe("");
  await waitFor(
    "the LLMTrainingJob CRD to be Established",
    () => kubectl(env, ["get", "crd", "llmtrainingjobs.gantry.dev", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]).stdout,
    (s) => s === "True",
  );
  ns = await freshNamespace(kubeConfig(env), "crd");
});

afterAll(async () => {
  await ns?.delete();
});

describe("the CRD on the API server", () => {
  it("is served with its short names and categories", () => {
    const r = kubectl(env, ["api-resources", "--api-group", "gantry.dev", "-o", "wide"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/llmtrainingjobs\s+llmjob,ltj\s+gantry.dev\/v1alpha1\s+true\s+LLMTrainingJob/);
    expect(r.stdout).toMatch(/gantry,training/);
  });

  it("shows the field descriptions in kubectl explain", async () => {
    // The OpenAPI document catches up with a new CRD a moment after it is Established.
    const spec = await waitFor("kubectl explain to know the CRD", () => kubectl(env, ["explain", "llmtrainingjob.spec"]), (r) => r.code === 0);
    expect(spec.stdout).toContain("Desired state of an LLMTrainingJob.");
    expect(spec.stdout).toMatch(/workers\s+<integer>/);
    const zero = kubectl(env, ["explain", "llmtrainingjob.spec.parallelism.zeroStage"]);
    expect(zero.stdout).toContain("ZeRO stage: 0 off, 1 shards optimizer state");
  });

  for (const file of readdirSync(join(REPO_ROOT, "examples")).filter((f) => f.endsWith(".yaml"))) {
    it(`accepts examples/${file} in a server-side dry run`, () => {
      const manifest = parseYaml(readFileSync(join(REPO_ROOT, "examples", file), "utf8"));
      const r = kubectl(env, ["apply", "--dry-run=server", "-f", "-"], inNamespace(manifest, ns.name));
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/llmtrainingjob.gantry.dev\/\S+ created \(server dry run\)/);
    });
  }

  it("applies its defaults, as parseJob does", () => {
    const r = kubectl(env, ["create", "--dry-run=server", "-o", "json", "-f", "-"], inNamespace(CASES[0]?.manifest, ns.name));
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout) as { spec: { model: { preset: string }; training: { optimizer: { lr: number } }; runPolicy: unknown } };
    expect(job.spec.model.preset).toBe("tiny");
    expect(job.spec.training.optimizer.lr).toBe(3e-4);
    expect(job.spec.runPolicy).toEqual({ backoffLimit: 3, maxPreemptions: 100 });
  });
});

// Manifests kubectl cannot send (not an object, no name, an unknown kind) never reach the CRD.
const SERVER_CHECKABLE = BAD_MANIFESTS.filter((b) => !["not an object", "wrong apiVersion", "wrong kind", "missing name"].includes(b.name));

describe("the API server rejects invalid manifests, naming the field", () => {
  for (const bad of SERVER_CHECKABLE) {
    it(bad.name, () => {
      const r = kubectl(env, ["create", "--dry-run=server", "-f", "-"], inNamespace(bad.manifest, ns.name));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(bad.path);
    });
  }
});

const messageOf = new Map(CROSS_FIELD_RULES.map((r) => [r.id, r.message]));

describe("the API server's CEL rules agree with parseJob on every case", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const name = `case-${CASES.indexOf(c)}`;
      const manifest = structuredClone(c.manifest) as { metadata: Record<string, unknown> };
      let r;
      if (c.old) {
        const old = structuredClone(c.old) as { metadata: Record<string, unknown> };
        old.metadata = { ...old.metadata, name };
        expect(kubectl(env, ["create", "--save-config", "-f", "-"], inNamespace(old, ns.name)).code).toBe(0);
        manifest.metadata = { ...manifest.metadata, name };
        r = kubectl(env, ["apply", "--dry-run=server", "-f", "-"], inNamespace(manifest, ns.name));
      } else {
        r = kubectl(env, ["create", "--dry-run=server", "-f", "-"], inNamespace(manifest, ns.name));
      }
      if (c.fails.length === 0) {
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        return;
      }
      expect(r.code).not.toBe(0);
      for (const id of c.fails) expect(r.stderr).toContain(messageOf.get(id));
      const others = CROSS_FIELD_RULES.filter((rule) => !c.fails.includes(rule.id) && r.stderr.includes(rule.message));
      expect(others.map((o) => o.id)).toEqual([]);
    });
  }
});
