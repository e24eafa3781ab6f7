// The pods, Service and PDB the operator builds are valid Kubernetes objects: the real API server accepts them in a
// server-side dry run, and a real gang of one job's workers is scheduled and run on the simulated nodes.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { stringify, parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseJob, type LLMTrainingJob } from "@gantry/crds";
import { gangPdb, headlessService, workerPod } from "../../operator/src/core/children.js";
import { REPO_ROOT } from "../support/cluster-env.js";
import { freshNamespace, kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const core = kc.makeApiClient(CoreV1Api);
const defaults = { trainerImage: "gantry/trainer:test", redisUrl: env.REDIS_URL, s3Endpoint: env.S3_ENDPOINT, checkpointBase: `s3://${env.S3_BUCKET}/checkpoints` };
let ns: TestNamespace;

beforeAll(async () => {
  ns = await freshNamespace(kc, "children");
  // The GPT-2 example runs at this priority.
  const pc = kubectl(env, ["apply", "-f", "-"], stringify({ apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "training-high" }, value: 1000 }));
  expect(pc.code).toBe(0);
  await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true);
});
afterAll(async () => {
  await ns?.delete();
});

function example(file: string): LLMTrainingJob {
  const r = parseJob(parseYaml(readFileSync(join(REPO_ROOT, "examples", file), "utf8")));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.job;
}

describe("objects built for every example", () => {
  for (const file of readdirSync(join(REPO_ROOT, "examples")).filter((f) => f.endsWith(".yaml"))) {
    it(`pass a server-side dry run: ${file}`, () => {
      const job = example(file);
      const ref = { name: job.metadata.name ?? "job", namespace: ns.name, uid: "00000000-0000-0000-0000-000000000001" };
      const objects = [workerPod(job, ref, 0, 0, job.spec.workers, defaults), headlessService(ref), gangPdb(ref, job.spec.workers)];
      const r = kubectl(env, ["create", "--dry-run=server", "-f", "-"], objects.map((o) => `---\n${stringify(o)}`).join("\n"));
      expect(r.stderr).toBe("");
      expect(r.stdout.split("\n").filter(Boolean)).toHaveLength(3);
    });
  }
});

describe("a gang built from the elastic example", () => {
  it("lands on the spot pool and runs", async () => {
    const job = example("elastic-spot.yaml");
    const ref = { name: "elastic-spot", namespace: ns.name, uid: "00000000-0000-0000-0000-000000000002" };
    await core.createNamespacedService({ namespace: ns.name, body: headlessService(ref) });
    for (let w = 0; w < 2; w++) {
      const pod = workerPod(job, ref, 0, w, 2, defaults);
      delete pod.metadata?.ownerReferences;
      await core.createNamespacedPod({ namespace: ns.name, body: pod });
    }
    const pods = await waitFor(
      "both workers to run",
      () => core.listNamespacedPod({ namespace: ns.name, labelSelector: `gantry.dev/job-uid=${ref.uid}` }),
      (l) => l.items.length === 2 && l.items.every((p) => p.status?.phase === "Running"),
    );
    for (const p of pods.items) expect(p.spec?.nodeName).toMatch(/^gpu-spot-/);
  });
});
