// The Node this agent registers, its heartbeat status and its Lease. Pure; the pools match test/cluster/nodes.sh,
// except that these nodes never carry KWOK's annotation (kwok.x-k8s.io/node), so KWOK leaves them alone.
import { V1MicroTime, type V1Lease, type V1Node, type V1NodeCondition, type V1NodeStatus, type V1Taint } from "@kubernetes/client-node";

export type Pool = "gpu-a100" | "gpu-spot" | "cpu";
export const POOLS: readonly Pool[] = ["gpu-a100", "gpu-spot", "cpu"];

interface PoolShape {
  gpus: number;
  cpu: string;
  memory: string;
  spot: boolean;
  product?: string;
}

const SHAPES: Record<Pool, PoolShape> = {
  "gpu-a100": { gpus: 8, cpu: "96", memory: "1Ti", spot: false, product: "NVIDIA-A100-SXM4-80GB" },
  "gpu-spot": { gpus: 8, cpu: "96", memory: "1Ti", spot: true, product: "NVIDIA-A100-SXM4-80GB" },
  cpu: { gpus: 0, cpu: "16", memory: "64Gi", spot: false },
};

/** Marks a node this agent runs; `kubectl get nodes -l gantry.dev/node-agent=true` lists them. */
export const AGENT_LABEL = "gantry.dev/node-agent";
export const AGENT_VERSION = "gantry-node-agent-0.1.0";
/** A node carrying this annotation is KWOK's: the agent refuses to take it over. */
export const KWOK_ANNOTATION = "kwok.x-k8s.io/node";
/** As with KWOK nodes: while a node carries it, the agent stops posting status and renewing the Lease (a dead kubelet). */
export const SIMULATE_NOT_READY = "gantry.dev/simulate-not-ready";

export interface NodeOptions {
  name: string;
  pool: Pool;
  gpus?: number;
  cpu?: string;
  memory?: string;
  labels?: Readonly<Record<string, string>>;
  taints?: readonly V1Taint[];
  hostIP: string;
}

export function nodeLabels(o: NodeOptions): Record<string, string> {
  const shape = SHAPES[o.pool];
  const gpus = o.gpus ?? shape.gpus;
  return {
    type: "node-agent",
    [AGENT_LABEL]: "true",
    "kubernetes.io/hostname": o.name,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": process.arch === "arm64" ? "arm64" : "amd64",
    "gantry.dev/pool": o.pool,
    "gantry.dev/spot": String(shape.spot),
    ...(gpus > 0 && shape.product ? { "nvidia.com/gpu.product": shape.product } : {}),
    ...o.labels,
  };
}

export function nodeTaints(o: NodeOptions): V1Taint[] {
  const spot: V1Taint[] = SHAPES[o.pool].spot ? [{ key: "gantry.dev/spot", value: "true", effect: "NoSchedule" }] : [];
  return [...spot, ...(o.taints ?? [])];
}

export function nodeConditions(now: Date, since: Date): V1NodeCondition[] {
  const c = (type: string, status: string, reason: string, message: string): V1NodeCondition => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: since });
  return [
    c("Ready", "True", "KubeletReady", "gantry node agent (local development runtime) is posting ready status"),
    c("MemoryPressure", "False", "KubeletHasSufficientMemory", ""),
    c("DiskPressure", "False", "KubeletHasNoDiskPressure", ""),
    c("PIDPressure", "False", "KubeletHasSufficientPID", ""),
    c("NetworkUnavailable", "False", "RouteCreated", "pods get loopback addresses"),
  ];
}

export function nodeStatus(o: NodeOptions, now: Date, since: Date): V1NodeStatus {
  const shape = SHAPES[o.pool];
  const resources = { cpu: o.cpu ?? shape.cpu, memory: o.memory ?? shape.memory, pods: "110", "nvidia.com/gpu": String(o.gpus ?? shape.gpus), "ephemeral-storage": "1Ti" };
  return {
    capacity: resources,
    allocatable: resources,
    conditions: nodeConditions(now, since),
    addresses: [
      { type: "InternalIP", address: o.hostIP },
      { type: "Hostname", address: o.name },
    ],
    // Port 0: there is no kubelet API, so `kubectl logs` and `exec` cannot reach this node.
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      architecture: process.arch === "arm64" ? "arm64" : "amd64",
      operatingSystem: "linux",
      kernelVersion: "",
      osImage: "gantry local development runtime",
      kubeletVersion: AGENT_VERSION,
      kubeProxyVersion: "",
      containerRuntimeVersion: "gantry-node-agent://0.1.0",
      machineID: "",
      systemUUID: "",
      bootID: "",
    },
  };
}

export function nodeObject(o: NodeOptions, now: Date): V1Node {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: o.name, labels: nodeLabels(o), annotations: { [AGENT_LABEL]: "local development runtime: test/node-agent" } },
    spec: { taints: nodeTaints(o) },
    status: nodeStatus(o, now, now),
  };
}

export const NODE_LEASE_NAMESPACE = "kube-node-lease";

export function leaseObject(node: string, nodeUid: string, now: Date, durationSeconds: number): V1Lease {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: node, namespace: NODE_LEASE_NAMESPACE, ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid: nodeUid }] },
    // Lease times are MicroTime: a plain Date serialises with milliseconds, which the API server rejects.
    spec: { holderIdentity: node, leaseDurationSeconds: durationSeconds, renewTime: new V1MicroTime(now.getTime()) },
  };
}
