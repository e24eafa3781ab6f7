// Simulated GPU nodes: add and remove them, cordon and drain them, and taint one to simulate a spot reclaim.
import { spawnSync } from "node:child_process";
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node, type V1Taint } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { join } from "node:path";
import { REPO_ROOT } from "./cluster-env.js";

export type Pool = "gpu-a100" | "gpu-spot" | "cpu";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** The Node manifest test/cluster/nodes.sh makes for a pool, so tests and cluster-up create identical nodes. */
export function nodeManifest(pool: Pool, name: string, gpus?: number): V1Node {
  const args = [join(REPO_ROOT, "test", "cluster", "nodes.sh"), "manifest", pool, name, ...(gpus === undefined ? [] : [String(gpus)])];
  const r = spawnSync("bash", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`nodes.sh manifest ${pool} ${name} failed: ${r.stderr}`);
  return parseYaml(r.stdout) as V1Node;
}

export class Nodes {
  private readonly core: CoreV1Api;
  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /**
   * Adds a node. `private` gives it a label and a NoSchedule taint of that key, so only pods that ask for it
   * (nodeSelector and toleration) land there: tests that count GPUs are not disturbed by each other.
   */
  async add(pool: Pool, name: string, options: { gpus?: number; private?: string } = {}): Promise<V1Node> {
    const node = nodeManifest(pool, name, options.gpus);
    if (options.private) {
      node.metadata = { ...node.metadata, labels: { ...node.metadata?.labels, "gantry.dev/test-pool": options.private } };
      node.spec = { ...node.spec, taints: [...(node.spec?.taints ?? []), { key: "gantry.dev/test-pool", value: options.private, effect: "NoSchedule" }] };
    }
    const created = await this.core.createNode({ body: node });
    // Status given on create is kept for nodes, but write it again through the status subresource to be sure.
    await this.core.patchNodeStatus({ name, body: { status: node.status } }, mergePatch);
    return created;
  }

  async remove(name: string): Promise<void> {
    await this.core.deleteNode({ name });
  }

  async cordon(name: string, unschedulable = true): Promise<void> {
    await this.core.patchNode({ name, body: { spec: { unschedulable } } }, mergePatch);
  }

  async taint(name: string, taint: V1Taint): Promise<void> {
    const node = await this.core.readNode({ name });
    const taints = (node.spec?.taints ?? []).filter((t) => t.key !== taint.key || t.effect !== taint.effect);
    await this.core.patchNode({ name, body: { spec: { taints: [...taints, taint] } } }, mergePatch);
  }

  /** What a cloud does before it reclaims a spot node: NoExecute taint, then the node goes away. */
  async reclaimSpot(name: string): Promise<void> {
    await this.taint(name, { key: "gantry.dev/spot-reclaim", value: "true", effect: "NoExecute" });
  }

  /** Cordons the node and evicts its pods through the Eviction API, as kubectl drain does. */
  async drain(name: string): Promise<string[]> {
    await this.cordon(name);
    const pods = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` });
    const evicted: string[] = [];
    for (const pod of pods.items) {
      const ns = pod.metadata?.namespace;
      const podName = pod.metadata?.name;
      if (!ns || !podName) continue;
      await this.core.createNamespacedPodEviction({
        name: podName,
        namespace: ns,
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: podName, namespace: ns } },
      });
      evicted.push(`${ns}/${podName}`);
    }
    return evicted;
  }

  /** What a dead kubelet looks like: KWOK stops managing the node's readiness and Ready turns False. */
  async markNotReady(name: string): Promise<void> {
    await this.core.patchNode({ name, body: { metadata: { annotations: { "gantry.dev/simulate-not-ready": "true" } } } }, mergePatch);
    const now = new Date();
    const ready = { type: "Ready", status: "False", reason: "KubeletStopped", message: "simulated: kubelet stopped posting status", lastHeartbeatTime: now, lastTransitionTime: now };
    await this.core.patchNodeStatus({ name, body: { status: { conditions: [ready] } } }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch));
  }

  async list(pool?: Pool): Promise<V1Node[]> {
    const labelSelector = pool ? `type=kwok,gantry.dev/pool=${pool}` : "type=kwok";
    return (await this.core.listNode({ labelSelector })).items;
  }
}

export function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}
