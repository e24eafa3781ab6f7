// Keeps this agent's Node registered and Ready: creates it, then every interval renews its Lease in kube-node-lease
// and posts its status, so the node lifecycle controller sees a live kubelet.
import { PatchStrategy, setHeaderOptions, type CoordinationV1Api, type CoreV1Api, type V1Node } from "@kubernetes/client-node";
import type { Log } from "./json-log.js";
import { AGENT_LABEL, KWOK_ANNOTATION, NODE_LEASE_NAMESPACE, SIMULATE_NOT_READY, leaseObject, nodeObject, nodeStatus, type NodeOptions } from "./node-manifest.js";
import { apiErrorText, statusCode } from "./api-errors.js";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** The Node exists and belongs to KWOK (or someone else): the agent will not take it over. */
export class NodeTakenError extends Error {
  constructor(readonly node: string) {
    super(`node ${node} exists and is not a node agent's (KWOK's nodes carry ${KWOK_ANNOTATION}): choose another --node name`);
    this.name = "NodeTakenError";
  }
}

export interface HeartbeatOptions {
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  node: NodeOptions;
  log: Log;
  leaseSeconds?: number;
  intervalMs?: number;
  /** The Node was deleted from the API while the agent ran. */
  onNodeGone: () => void;
}

export class NodeHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private uid = "";
  private readonly since = new Date();
  private beating = false;

  constructor(private readonly o: HeartbeatOptions) {}

  /** Creates the Node (or takes back its own from a previous run) with Ready status, and its Lease. */
  async register(): Promise<V1Node> {
    const { core, node } = this.o;
    const wanted = nodeObject(node, new Date());
    let current: V1Node;
    try {
      current = await core.createNode({ body: wanted });
      this.o.log.info("node registered", { node: node.name });
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      const existing = await core.readNode({ name: node.name });
      const ours = existing.metadata?.labels?.[AGENT_LABEL] === "true" && existing.metadata.annotations?.[KWOK_ANNOTATION] === undefined;
      if (!ours) throw new NodeTakenError(node.name);
      current = await core.patchNode({ name: node.name, body: { metadata: { labels: wanted.metadata?.labels, annotations: wanted.metadata?.annotations } } }, mergePatch);
      this.o.log.info("node taken back from a previous run", { node: node.name });
    }
    this.uid = current.metadata?.uid ?? "";
    // Status sent with a create is dropped for most kinds; write it through the status subresource.
    await core.patchNodeStatus({ name: node.name, body: { status: nodeStatus(node, new Date(), this.since) } }, mergePatch);
    await this.renewLease();
    return current;
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.o.intervalMs ?? 10_000);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    const { core, node, log } = this.o;
    try {
      const current = await core.readNode({ name: node.name });
      // A test that wants a dead kubelet annotates the node; stay silent then, as KWOK does.
      if (current.metadata?.annotations?.[SIMULATE_NOT_READY] !== undefined) return;
      await this.renewLease();
      await core.patchNodeStatus({ name: node.name, body: { status: nodeStatus(node, new Date(), this.since) } }, mergePatch);
    } catch (err) {
      if (statusCode(err) === 404) {
        log.warn("node deleted from the API", { node: node.name });
        this.stop();
        this.o.onNodeGone();
        return;
      }
      log.warn("heartbeat failed", { node: node.name, error: apiErrorText(err) });
    } finally {
      this.beating = false;
    }
  }

  private async renewLease(): Promise<void> {
    const { coordination, node } = this.o;
    const body = leaseObject(node.name, this.uid, new Date(), this.o.leaseSeconds ?? 40);
    try {
      // A merge patch needs no resourceVersion: this agent is the Lease's only writer.
      await coordination.patchNamespacedLease({ name: node.name, namespace: NODE_LEASE_NAMESPACE, body: { spec: body.spec } }, mergePatch);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      await coordination.createNamespacedLease({ namespace: NODE_LEASE_NAMESPACE, body });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Deletes the Node; its Lease goes with it (owner reference). */
  async leave(): Promise<void> {
    this.stop();
    await this.o.core.deleteNode({ name: this.o.node.name }).catch((err: unknown) => {
      if (statusCode(err) !== 404) throw err;
    });
  }
}
