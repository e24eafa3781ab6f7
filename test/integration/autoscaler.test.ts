// The autoscaling story with a real autoscaler: Karpenter with its KWOK provider (test/cluster/build-karpenter.sh,
// `cluster.sh karpenter-up`). A job that needs more GPUs than its pool has waits in Scheduling/WaitingForCapacity,
// never Failed; Karpenter adds GPU nodes (KWOK runs them); the job runs; once it is done, Karpenter removes the nodes.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, type V1Node } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Controller } from "../../operator/src/controller/controller.js";
import { CLUSTER_SCRIPT, REPO_ROOT } from "../support/cluster-env.js";
import { ensureCrd, freshNamespace, kubeConfig, type TestNamespace } from "../support/kube.js";
import { isReady } from "../support/nodes.js";
import { TestJobs, type StoredTestJob } from "../support/jobs.js";
import { startOperator } from "../support/operator.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

// What test/cluster/karpenter/nodepool.yaml and instance-types.json define.
const NODEPOOL = "gantry-burst";
const POOL_LABEL = "gpu-burst";
const BURST_POOL = {
  nodeSelector: { "gantry.dev/pool": POOL_LABEL },
  tolerations: [{ key: "gantry.dev/autoscaled", operator: "Equal", value: "true", effect: "NoSchedule" }],
};

class KarpenterScriptError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly output: string,
  ) {
    super(`${command} exited ${code ?? "by signal"}:\n${output.slice(-4000)}`);
    this.name = "KarpenterScriptError";
  }
}

function run(command: string, args: string[], timeoutMs: number): { code: number | null; output: string } {
  const r = spawnSync("bash", args, { encoding: "utf8", env: process.env, timeout: timeoutMs, cwd: REPO_ROOT });
  return { code: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}` };
}

function mustRun(command: string, args: string[], timeoutMs: number): void {
  const r = run(command, args, timeoutMs);
  if (r.code !== 0) throw new KarpenterScriptError(command, r.code, r.output);
}

interface NodeClaim {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { nodeName?: string; conditions?: { type: string; status: string }[] };
}

async function nodeClaims(): Promise<NodeClaim[]> {
  const list = (await custom.listClusterCustomObject({ group: "karpenter.sh", version: "v1", plural: "nodeclaims", labelSelector: `karpenter.sh/nodepool=${NODEPOOL}` })) as { items: NodeClaim[] };
  return list.items;
}

async function burstNodes(): Promise<V1Node[]> {
  return (await core.listNode({ labelSelector: `karpenter.sh/nodepool=${NODEPOOL}` })).items;
}

const gangReason = (j: StoredTestJob) => j.status?.conditions?.find((c) => c.type === "GangScheduled")?.reason;

let startedKarpenter = false;
let ns: TestNamespace | undefined;
let operator: Controller | undefined;

beforeAll(async () => {
  // Cached after the first build (a hash check, well under a second); a cold build takes about 10 minutes on 2
  // cores, which is why `make setup` should build it (see test/cluster/README.md).
  mustRun("build-karpenter.sh", [join(REPO_ROOT, "test", "cluster", "build-karpenter.sh")], 40 * 60_000);
  if (run("cluster.sh karpenter-status", [CLUSTER_SCRIPT, "karpenter-status"], 30_000).code !== 0) {
    mustRun("cluster.sh karpenter-up", [CLUSTER_SCRIPT, "karpenter-up"], 240_000);
    startedKarpenter = true;
  }
  await ensureCrd(env);
  ns = await freshNamespace(kc, "autoscale");
  await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns?.name ?? "" }), () => true);
  operator = await startOperator(kc, env, ns.name);
}, 45 * 60_000);

afterAll(async () => {
  await operator?.stop();
  await ns?.delete();
  if (startedKarpenter) mustRun("cluster.sh karpenter-down", [CLUSTER_SCRIPT, "karpenter-down"], 120_000);
}, 180_000);

describe("autoscaling with Karpenter's KWOK provider", () => {
  it("leaves pending pods that do not tolerate the pool's taint alone, so other tests' unschedulable pods get no nodes", async () => {
    const namespace = ns?.name ?? "";
    // Everything right for the pool except the toleration: the taint alone keeps Karpenter away.
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "untolerated" },
        spec: {
          nodeSelector: BURST_POOL.nodeSelector,
          containers: [{ name: "main", image: "gantry/none:test", resources: { requests: { "nvidia.com/gpu": "8" }, limits: { "nvidia.com/gpu": "8" } } }],
        },
      },
    });
    try {
      // Karpenter's own verdict on the pod (the scheduler's FailedScheduling comes from default-scheduler).
      const verdict = await waitFor(
        "Karpenter to decline the pod",
        async () => (await core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=untolerated" })).items.filter((e) => e.source?.component === "karpenter"),
        (events) => events.some((e) => e.reason === "FailedScheduling"),
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(verdict.find((e) => e.reason === "FailedScheduling")?.message).toContain("gantry.dev/autoscaled");
      expect(await nodeClaims()).toEqual([]);
      const pod = await core.readNamespacedPod({ name: "untolerated", namespace });
      expect(pod.spec?.nodeName).toBeUndefined();
    } finally {
      await core.deleteNamespacedPod({ name: "untolerated", namespace, gracePeriodSeconds: 0 });
    }
  });

  it("adds GPU nodes for a job that does not fit, runs it, and removes the nodes after it finishes", async () => {
    const jobs = new TestJobs(kc, ns?.name ?? "");
    // The pool starts empty (a previous run's nodes may still be being consolidated): every GPU this job gets,
    // Karpenter made for it.
    await waitFor("the pool to be empty", burstNodes, (n) => n.length === 0, { timeoutMs: 120_000, intervalMs: 1000 });

    // 2 workers × 8 GPUs: only the 8-GPU instance type fits a worker, so Karpenter needs two a100-8x nodes.
    // 16 ranks: the global batch must be a multiple of 4 × 16.
    await jobs.create("burst", { workers: 2, training: { steps: 10, globalBatchSize: 64, microBatchSize: 4 }, resources: { gpusPerWorker: 8, cpu: "8", memory: "64Gi" }, scheduling: { ...BURST_POOL, gangTimeoutSeconds: 900 } });

    // Watch the job's phase throughout: it waits for capacity and must never fail while nodes are coming.
    const phases = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const phase = (await jobs.read("burst").catch(() => undefined))?.status?.phase;
        if (phase) phases.add(phase);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    try {
      const waiting = await waitFor("the job to wait for capacity", () => jobs.read("burst"), (j) => gangReason(j) === "WaitingForCapacity", { timeoutMs: 60_000, intervalMs: 200 });
      expect(waiting.status?.phase).toBe("Scheduling");

      // Karpenter's answer: NodeClaims in the pool, then Nodes that KWOK makes Ready.
      const claims = await waitFor("two NodeClaims in the pool", nodeClaims, (c) => c.length >= 2, { timeoutMs: 120_000 });
      expect(claims).toHaveLength(2);
      // Initialized: Karpenter registered the node (its taints and labels synced from the NodeClaim) and KWOK made it Ready.
      const initialized = (n: V1Node) => isReady(n) && n.metadata?.labels?.["karpenter.sh/initialized"] === "true";
      const ready = await waitFor("two initialized nodes in the pool", burstNodes, (n) => n.length === 2 && n.every(initialized), { timeoutMs: 120_000 });
      for (const node of ready) {
        expect(node.metadata?.labels?.["node.kubernetes.io/instance-type"]).toBe("a100-8x");
        expect(node.metadata?.labels?.["gantry.dev/pool"]).toBe(POOL_LABEL);
        expect(node.metadata?.labels?.["karpenter.sh/capacity-type"]).toBe("on-demand");
        expect(node.status?.allocatable?.["nvidia.com/gpu"]).toBe("8");
        expect(node.spec?.taints?.map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`)).toContain("gantry.dev/autoscaled=true:NoSchedule");
      }
      const readyNames = ready.map((n) => n.metadata?.name ?? "").sort();
      // Each node is the one its NodeClaim registered.
      expect((await nodeClaims()).map((c) => c.status?.nodeName ?? "").sort()).toEqual(readyNames);

      // The gang runs on exactly those nodes, one worker per node.
      const running = await jobs.waitPhase("burst", "Running", 0, 120_000);
      expect(running.status?.workers?.ready).toBe(2);
      const pods = await jobs.livePods("burst");
      expect(pods.map((p) => p.status?.phase)).toEqual(["Running", "Running"]);
      expect(pods.map((p) => p.spec?.nodeName ?? "").sort()).toEqual(readyNames);

      // It finishes: worker 0 exits 0 (after the final checkpoint, in the trainer's contract), which succeeds the job.
      const worker0 = pods.find((p) => p.metadata?.labels?.["gantry.dev/worker"] === "0")?.metadata?.name;
      expect(worker0).toBe("burst-0-0");
      await jobs.exit(worker0 ?? "", 0);
      const succeeded = await jobs.waitPhase("burst", "Succeeded", 0, 60_000);
      expect(succeeded.status?.restarts).toEqual({ preemption: 0, failure: 0 });
    } finally {
      watching = false;
      await watcher;
    }
    expect([...phases]).not.toContain("Failed");
    expect(phases).toContain("Scheduling");

    // Empty nodes are consolidated away (consolidateAfter 5s): the NodeClaims and the Nodes go.
    await waitFor("the pool's NodeClaims to go", nodeClaims, (c) => c.length === 0, { timeoutMs: 180_000, intervalMs: 1000 });
    await waitFor("the pool's nodes to go", burstNodes, (n) => n.length === 0, { timeoutMs: 60_000, intervalMs: 1000 });
  }, 600_000);
});
