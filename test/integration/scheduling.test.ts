// The real scheduler binds GPU pods to simulated GPU nodes, KWOK runs them, and the node helpers reshape the pools.
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshNamespace, kubeConfig, type TestNamespace } from "../support/kube.js";
import { Nodes, isReady } from "../support/nodes.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const core = kc.makeApiClient(CoreV1Api);
const nodes = new Nodes(kc);
let ns: TestNamespace;

beforeAll(async () => {
  ns = await freshNamespace(kc, "sched");
  // The namespace's default ServiceAccount comes from the controller-manager; pods need it.
  await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true);
});

afterAll(async () => {
  await ns?.delete();
});

function gpuPod(name: string, gpus: number, extra: Partial<V1Pod["spec"]> = {}): V1Pod {
  return {
    metadata: { name },
    spec: {
      containers: [{ name: "trainer", image: "gantry/trainer:test", resources: { limits: { "nvidia.com/gpu": String(gpus), cpu: "1", memory: "1Gi" } } }],
      ...extra,
    },
  };
}

const readPod = (name: string) => core.readNamespacedPod({ name, namespace: ns.name });

describe("simulated GPU node pools", () => {
  it("are Ready with GPU capacity; spot nodes are labelled and tainted", async () => {
    const a100 = await nodes.list("gpu-a100");
    const spot = await nodes.list("gpu-spot");
    expect(a100.length).toBeGreaterThanOrEqual(2);
    expect(spot.length).toBeGreaterThanOrEqual(2);
    for (const n of [...a100, ...spot]) {
      expect(isReady(n)).toBe(true);
      expect(n.status?.allocatable?.["nvidia.com/gpu"]).toBe("8");
    }
    expect(spot[0]?.metadata?.labels?.["gantry.dev/spot"]).toBe("true");
    expect(spot[0]?.spec?.taints).toContainEqual({ key: "gantry.dev/spot", value: "true", effect: "NoSchedule" });
  });
});

describe("the scheduler and KWOK", () => {
  it("bind a GPU pod to a GPU node and run it", async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("gpu-2", 2) });
    const pod = await waitFor("pod gpu-2 to run", () => readPod("gpu-2"), (p) => p.status?.phase === "Running");
    expect(pod.spec?.nodeName).toMatch(/^gpu-a100-\d+$/);
    expect(pod.status?.podIP).toMatch(/^10\.244\./);
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  });

  it("keep untolerating pods off spot nodes and put tolerating ones there", async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: gpuPod("on-spot", 8, {
        nodeSelector: { "gantry.dev/pool": "gpu-spot" },
        tolerations: [{ key: "gantry.dev/spot", operator: "Equal", value: "true", effect: "NoSchedule" }],
      }),
    });
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("no-toleration", 1, { nodeSelector: { "gantry.dev/pool": "gpu-spot" } }) });
    const onSpot = await waitFor("pod on-spot to run", () => readPod("on-spot"), (p) => p.status?.phase === "Running");
    expect(onSpot.spec?.nodeName).toMatch(/^gpu-spot-\d+$/);
    const blocked = await waitFor(
      "pod no-toleration to be reported unschedulable",
      () => readPod("no-toleration"),
      (p) => p.status?.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable") ?? false,
    );
    expect(blocked.spec?.nodeName).toBeUndefined();
    expect(blocked.status?.conditions?.find((c) => c.type === "PodScheduled")?.message).toMatch(/untolerated taint/);
  });

  it("leave a pod asking for more GPUs than any node has Pending, saying why", async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("too-big", 9) });
    const pod = await waitFor(
      "pod too-big to be unschedulable",
      () => readPod("too-big"),
      (p) => p.status?.conditions?.some((c) => c.reason === "Unschedulable") ?? false,
    );
    expect(pod.status?.phase).toBe("Pending");
    expect(pod.status?.conditions?.find((c) => c.type === "PodScheduled")?.message).toMatch(/Insufficient nvidia.com\/gpu/);
  });

  it("end a pod's containers with the exit code a test asks for", async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: { ...gpuPod("exits", 1), metadata: { name: "exits" } } });
    await waitFor("pod exits to run", () => readPod("exits"), (p) => p.status?.phase === "Running");
    await core.patchNamespacedPod(
      { name: "exits", namespace: ns.name, body: [{ op: "add", path: "/metadata/annotations", value: { "gantry.dev/simulate-exit-code": "3" } }] },
    );
    const pod = await waitFor("pod exits to fail", () => readPod("exits"), (p) => p.status?.phase === "Failed");
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
  });
});

describe("node helpers", () => {
  it("add a node to a pool, drain it (evicting its pods) and remove it", async () => {
    const name = `gpu-a100-extra-${ns.name.slice(-6)}`;
    await nodes.add("gpu-a100", name);
    await waitFor(`node ${name} to be Ready`, () => core.readNode({ name }), isReady);
    // Fill the other A100 nodes' scheduling preference out of the way: pin the pod to the new node.
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("pinned", 1, { nodeSelector: { "kubernetes.io/hostname": name } }) });
    await waitFor("pod pinned to run", () => readPod("pinned"), (p) => p.status?.phase === "Running");
    const evicted = await nodes.drain(name);
    expect(evicted).toEqual([`${ns.name}/pinned`]);
    const node = await core.readNode({ name });
    expect(node.spec?.unschedulable).toBe(true);
    await waitFor("pod pinned to be gone", () => core.listNamespacedPod({ namespace: ns.name, fieldSelector: "metadata.name=pinned" }), (l) => l.items.length === 0);
    await nodes.remove(name);
    await waitFor(`node ${name} to be deleted`, () => nodes.list("gpu-a100"), (l) => !l.some((n) => n.metadata?.name === name));
  });

  it("simulate a spot reclaim with a NoExecute taint that evicts the node's pods", async () => {
    const name = `gpu-spot-extra-${ns.name.slice(-6)}`;
    await nodes.add("gpu-spot", name);
    await waitFor(`node ${name} to be Ready`, () => core.readNode({ name }), isReady);
    await core.createNamespacedPod({
      namespace: ns.name,
      body: gpuPod("spot-victim", 1, {
        nodeSelector: { "kubernetes.io/hostname": name },
        tolerations: [{ key: "gantry.dev/spot", operator: "Exists", effect: "NoSchedule" }],
      }),
    });
    await waitFor("pod spot-victim to run", () => readPod("spot-victim"), (p) => p.status?.phase === "Running");
    await nodes.reclaimSpot(name);
    await waitFor(
      "pod spot-victim to be evicted by the taint manager",
      () => core.listNamespacedPod({ namespace: ns.name, fieldSelector: "metadata.name=spot-victim" }),
      (l) => l.items.length === 0,
      { timeoutMs: 60_000 },
    );
    await nodes.remove(name);
  });
});
