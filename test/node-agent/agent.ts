// The node agent: the kubelet of one Node for the local development runtime. It registers the Node, watches the pods
// bound to it and runs their containers as local processes, reporting their status back. Every decision comes from
// pod-decision.ts; this file only carries it out.
import { mkdirSync, readFileSync } from "node:fs";
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1ConfigMap, type V1Container, type V1Pod, type V1Secret } from "@kubernetes/client-node";
import { apiErrorText, statusCode } from "./api-errors.js";
import { ContainerProcess, killRecordedProcess } from "./container-process.js";
import { expandArgs, referencedObjects, resolveEnv, type FetchedObjects } from "./env-resolution.js";
import { IMAGE_TABLE, resolveImage, type ImageRule } from "./image-table.js";
import type { Log } from "./json-log.js";
import { allocatePodIp } from "./loopback-ips.js";
import { NodeHeartbeat } from "./node-heartbeat.js";
import type { NodeOptions } from "./node-manifest.js";
import { decide, isTerminal, viewPod, type LocalPodView, type Step } from "./pod-decision.js";
import { containerFiles, pidFiles, podDirectories, podDirectory, type ContainerFiles } from "./pod-files.js";
import { podStatus, terminationMessage, terminationReason, type ContainerState, type ContainerView } from "./pod-status.js";
import { PodWatch } from "./pod-watch.js";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface AgentOptions {
  kc: KubeConfig;
  node: NodeOptions;
  /** Pods get base+1 … base+254. */
  ipBase: string;
  /** Pod folders go under <stateDir>/pods. */
  stateDir: string;
  repoRoot: string;
  log: Log;
  table?: readonly ImageRule[];
  heartbeatMs?: number;
  /** The host variables every container gets under its pod's own; default PATH, HOME, LANG. */
  hostEnv?: Readonly<Record<string, string>>;
  /** On stop, wait at most this long for pods' processes after SIGTERM (default 10 s). */
  stopGraceCapSeconds?: number;
}

interface ContainerRecord {
  spec: V1Container;
  files: ContainerFiles;
  process?: ContainerProcess;
  /** The state when no process carries it: waiting on a config error, or lost on restart; cached once ended. */
  state?: ContainerState;
}

interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  dir: string;
  podIP?: string;
  startTime: Date;
  containers: ContainerRecord[];
  failure?: { reason: string; message: string };
  terminating?: { deadlineMs: number; killSent: boolean };
  lastReported?: string;
  timer?: NodeJS.Timeout;
}

function pickEnv(keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(keys.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k] ?? ""]])));
}

export class NodeAgent {
  private readonly core: CoreV1Api;
  private readonly heartbeat: NodeHeartbeat;
  private readonly watch: PodWatch;
  private readonly records = new Map<string, PodRecord>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  /** Pods whose deletion this agent finished, so later events for them do not delete again. */
  private readonly finalized = new Set<string>();
  private stopping = false;
  private resolveClosed: (why: string) => void = () => undefined;
  /** Resolves with the reason once the agent has stopped: "stopped", or "node-deleted" when its Node went away. */
  readonly closed = new Promise<string>((r) => (this.resolveClosed = r));

  constructor(private readonly o: AgentOptions) {
    this.core = o.kc.makeApiClient(CoreV1Api);
    this.heartbeat = new NodeHeartbeat({
      core: this.core,
      coordination: o.kc.makeApiClient(CoordinationV1Api),
      node: o.node,
      log: o.log,
      ...(o.heartbeatMs !== undefined ? { intervalMs: o.heartbeatMs } : {}),
      onNodeGone: () => void this.nodeGone(),
    });
    this.watch = new PodWatch({ kc: o.kc, core: this.core, node: o.node.name, log: o.log, onChange: (uid) => this.schedule(uid) });
  }

  get nodeName(): string {
    return this.o.node.name;
  }

  async start(): Promise<void> {
    await this.heartbeat.register();
    this.heartbeat.start();
    await this.watch.start();
    this.killOrphansOfVanishedPods();
    this.o.log.info("node agent ready", { node: this.o.node.name, ipBase: this.o.ipBase, pods: this.watch.list().length });
  }

  /** Processes a previous agent left for pods the API no longer has. */
  private killOrphansOfVanishedPods(): void {
    const known = new Set(this.watch.list().map((p) => p.metadata?.uid));
    for (const { dir, uid } of podDirectories(this.o.stateDir)) {
      if (known.has(uid)) continue;
      // Agents of other nodes share the state folder: killRecordedProcess touches only this node's records.
      for (const f of pidFiles(dir)) if (killRecordedProcess(f, this.o.node.name)) this.o.log.warn("killed a process left by a previous agent", { pidFile: f });
    }
  }

  private schedule(uid: string): void {
    if (this.stopping) return;
    if (this.inFlight.has(uid)) {
      this.dirty.add(uid);
      return;
    }
    const run = async () => {
      do {
        this.dirty.delete(uid);
        try {
          await this.reconcile(uid);
        } catch (err) {
          this.o.log.warn("reconcile failed; retrying", { uid, error: apiErrorText(err) });
          setTimeout(() => this.schedule(uid), 1000).unref();
        }
      } while (this.dirty.has(uid) && !this.stopping);
      this.inFlight.delete(uid);
    };
    this.inFlight.set(uid, run());
  }

  private localView(rec: PodRecord): LocalPodView {
    const alive = rec.containers.filter((c) => c.process && !c.process.exit).length;
    return rec.terminating ? { alive, terminating: rec.terminating } : { alive };
  }

  private async reconcile(uid: string): Promise<void> {
    const pod = this.watch.get(uid);
    if (!pod) this.finalized.delete(uid);
    const rec = this.records.get(uid);
    const traces = !rec && pod ? pidFiles(this.dirOf(pod)).length > 0 : false;
    const steps = decide(pod ? viewPod(pod, traces) : undefined, rec ? this.localView(rec) : undefined, Date.now());
    for (const step of steps) await this.perform(step, uid, pod, rec);
  }

  private async perform(step: Step, uid: string, pod: V1Pod | undefined, rec: PodRecord | undefined): Promise<void> {
    const log = this.o.log.child({ pod: pod ? `${pod.metadata?.namespace}/${pod.metadata?.name}` : (rec ? `${rec.namespace}/${rec.name}` : uid) });
    switch (step.kind) {
      case "start":
        if (pod) await this.startPod(pod, log);
        this.dirty.add(uid);
        return;
      case "mark-lost":
        if (pod) this.markLost(pod, log);
        this.dirty.add(uid);
        return;
      case "report":
        if (rec && pod) await this.report(rec, pod, log);
        return;
      case "terminate": {
        if (!rec) return;
        const deadlineMs = Date.now() + step.graceSeconds * 1000;
        rec.terminating = { deadlineMs, killSent: false };
        log.info("pod deleted: SIGTERM", { graceSeconds: step.graceSeconds });
        for (const c of rec.containers) c.process?.signal("SIGTERM");
        rec.timer = setTimeout(() => this.schedule(uid), Math.max(0, deadlineMs - Date.now()) + 10);
        return;
      }
      case "kill":
        if (!rec) return;
        log.info(step.why === "force-deleted" ? "pod force-deleted: SIGKILL" : "grace period over: SIGKILL");
        if (rec.terminating) rec.terminating.killSent = true;
        for (const c of rec.containers) c.process?.signal("SIGKILL");
        return;
      case "finalize":
        if (pod && !this.finalized.has(uid)) {
          await this.finalize(pod, log);
          this.finalized.add(uid);
        }
        return;
      case "forget":
        if (rec?.timer) clearTimeout(rec.timer);
        this.records.delete(uid);
        return;
    }
  }

  private dirOf(pod: V1Pod): string {
    const m = pod.metadata ?? {};
    return podDirectory(this.o.stateDir, m.namespace ?? "", m.name ?? "", m.uid ?? "");
  }

  private usedIps(): Set<string> {
    const used = new Set<string>();
    for (const r of this.records.values()) if (r.podIP) used.add(r.podIP);
    for (const p of this.watch.list()) if (p.status?.podIP && !isTerminal(p.status.phase ?? "Pending")) used.add(p.status.podIP);
    return used;
  }

  private async fetchObjects(namespace: string, containers: readonly V1Container[]): Promise<FetchedObjects> {
    const secrets = new Map<string, V1Secret>();
    const configMaps = new Map<string, V1ConfigMap>();
    const refs = containers.map(referencedObjects);
    const absent = (err: unknown) => {
      if (statusCode(err) === 404) return undefined;
      throw err;
    };
    for (const name of new Set(refs.flatMap((r) => r.secrets))) {
      const s = await this.core.readNamespacedSecret({ name, namespace }).catch(absent);
      if (s) secrets.set(name, s);
    }
    for (const name of new Set(refs.flatMap((r) => r.configMaps))) {
      const c = await this.core.readNamespacedConfigMap({ name, namespace }).catch(absent);
      if (c) configMaps.set(name, c);
    }
    return { secrets, configMaps };
  }

  private async startPod(pod: V1Pod, log: Log): Promise<void> {
    const meta = pod.metadata ?? {};
    const spec = pod.spec ?? { containers: [] };
    const dir = this.dirOf(pod);
    mkdirSync(dir, { recursive: true });
    const rec: PodRecord = {
      uid: meta.uid ?? "",
      namespace: meta.namespace ?? "",
      name: meta.name ?? "",
      dir,
      startTime: new Date(),
      containers: spec.containers.map((c) => ({ spec: c, files: containerFiles(dir, c.name) })),
    };
    const fail = (reason: string, message: string, waiting = reason) => {
      rec.failure = { reason, message };
      for (const c of rec.containers) c.state ??= { kind: "waiting", reason: waiting, message };
      log.warn("pod failed before its containers started", { reason, message });
    };
    // Read first: an API error here leaves no record behind, so the next try starts afresh.
    const objects = await this.fetchObjects(rec.namespace, spec.containers);
    const podIP = allocatePodIp(this.o.ipBase, this.usedIps());
    if (podIP) rec.podIP = podIP;
    this.records.set(rec.uid, rec);
    if (!podIP) return fail("OutOfPodIPs", `all 254 addresses of ${this.o.ipBase}/24 are in use on ${this.o.node.name}`);
    if ((spec.initContainers ?? []).length > 0) return fail("Unsupported", "init containers are not supported by the local node agent");
    if ((spec.restartPolicy ?? "Always") !== "Never") log.warn("only restartPolicy Never is supported: containers run once", { restartPolicy: spec.restartPolicy ?? "Always" });
    const runtime = { podIP, hostIP: this.o.node.hostIP };
    const plans = [];
    for (const c of rec.containers) {
      const env = resolveEnv(pod, c.spec, runtime, objects);
      if (!env.ok) {
        c.state = { kind: "waiting", reason: env.error.reason, message: env.error.message };
        return fail(env.error.reason, `container ${c.spec.name}: ${env.error.message}`);
      }
      const command = expandArgs(c.spec.command, env.env);
      const args = expandArgs(c.spec.args, env.env);
      const image = resolveImage({ ...c.spec, ...(command ? { command } : {}), ...(args ? { args } : {}) }, { repoRoot: this.o.repoRoot, nodeExecPath: process.execPath }, this.o.table ?? IMAGE_TABLE);
      if (!image.ok) {
        c.state = { kind: "waiting", reason: image.reason, message: image.message };
        return fail(image.reason, `container ${c.spec.name}: ${image.message}`);
      }
      const host = this.o.hostEnv ?? pickEnv(["PATH", "HOME", "LANG"]);
      const childEnv = { ...host, HOSTNAME: spec.hostname ?? rec.name, ...image.command.env, ...env.env, GANTRY_TERMINATION_LOG: c.files.terminationLog };
      plans.push({ c, argv: image.command.argv, cwd: image.command.cwd, env: childEnv });
    }
    for (const p of plans) {
      p.c.process = new ContainerProcess({ argv: p.argv, cwd: p.cwd, env: p.env, logFile: p.c.files.log, pidFile: p.c.files.pid, node: this.o.node.name });
      log.info("container started", { container: p.c.spec.name, pid: p.c.process.pid, podIP, argv: p.argv });
      void p.c.process.done.then((exit) => {
        log.info("container exited", { container: p.c.spec.name, exitCode: exit.exitCode, signal: exit.signal, startError: exit.startError });
        this.schedule(rec.uid);
      });
    }
  }

  /** A pod that ran under a previous agent: kill what it left running, and fail the pod, since its exit is unknown. */
  private markLost(pod: V1Pod, log: Log): void {
    const meta = pod.metadata ?? {};
    const dir = this.dirOf(pod);
    const killed = pidFiles(dir).filter((f) => killRecordedProcess(f, this.o.node.name)).length;
    const now = new Date();
    const message = `the node agent restarted and lost this pod's processes${killed > 0 ? ` (killed ${killed} left running)` : ""}`;
    const rec: PodRecord = {
      uid: meta.uid ?? "",
      namespace: meta.namespace ?? "",
      name: meta.name ?? "",
      dir,
      startTime: pod.status?.startTime ? new Date(pod.status.startTime) : now,
      failure: { reason: "NodeAgentRestarted", message },
      containers: (pod.spec?.containers ?? []).map((c) => {
        const before = pod.status?.containerStatuses?.find((s) => s.name === c.name)?.state?.running?.startedAt;
        const state: ContainerState = {
          kind: "terminated",
          exitCode: 137,
          reason: "ContainerStatusUnknown",
          message: "The container could not be located when the node agent restarted",
          finishedAt: now,
          ...(before ? { startedAt: new Date(before) } : {}),
        };
        return { spec: c, files: containerFiles(dir, c.name), state };
      }),
    };
    if (pod.status?.podIP) rec.podIP = pod.status.podIP;
    this.records.set(rec.uid, rec);
    log.warn("adopted a pod whose processes were lost: marking it Failed", { killed });
  }

  private containerView(c: ContainerRecord): ContainerView {
    const image = c.spec.image ?? "";
    const p = c.process;
    if (p) {
      const exit = p.exit;
      if (!exit) return { name: c.spec.name, image, state: { kind: "running", startedAt: p.startedAt } };
      if (!c.state) {
        const file = (() => {
          try {
            return readFileSync(c.files.terminationLog, "utf8");
          } catch {
            return undefined;
          }
        })();
        const logTail = () => {
          try {
            return readFileSync(c.files.log, "utf8");
          } catch {
            return "";
          }
        };
        const message = exit.startError ?? terminationMessage(file, c.spec.terminationMessagePolicy, exit.exitCode, logTail);
        c.state = {
          kind: "terminated",
          exitCode: exit.exitCode,
          reason: exit.startError ? "StartError" : terminationReason(exit.exitCode),
          startedAt: p.startedAt,
          finishedAt: exit.finishedAt,
          ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
          ...(message !== undefined ? { message } : {}),
        };
      }
    }
    return { name: c.spec.name, image, state: c.state ?? { kind: "waiting", reason: "ContainerCreating" } };
  }

  private async report(rec: PodRecord, pod: V1Pod, log: Log): Promise<void> {
    const status = podStatus({
      containers: rec.containers.map((c) => this.containerView(c)),
      hostIP: this.o.node.hostIP,
      startTime: rec.startTime,
      now: new Date(),
      ...(rec.podIP ? { podIP: rec.podIP } : {}),
      ...(rec.failure ? { failure: rec.failure } : {}),
      ...(pod.status?.conditions ? { previous: pod.status.conditions } : {}),
    });
    // Transition times aside, an unchanged status is not written again.
    const signature = JSON.stringify({ ...status, conditions: status.conditions?.map((c) => [c.type, c.status, c.reason]) });
    if (signature === rec.lastReported) return;
    try {
      await this.core.patchNamespacedPodStatus({ name: rec.name, namespace: rec.namespace, body: { status } }, mergePatch);
      rec.lastReported = signature;
      log.info("status", { phase: status.phase, podIP: status.podIP, reason: status.reason, exitCodes: status.containerStatuses?.map((c) => c.state?.terminated?.exitCode ?? null) });
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw err;
    }
  }

  /** What the kubelet does once a deleted pod's containers are gone: delete it for good, with grace period 0. */
  private async finalize(pod: V1Pod, log: Log): Promise<void> {
    const meta = pod.metadata ?? {};
    for (const f of pidFiles(this.dirOf(pod))) killRecordedProcess(f, this.o.node.name);
    try {
      // In the body: the API server ignores the query's gracePeriodSeconds when a request has a body.
      await this.core.deleteNamespacedPod({ name: meta.name ?? "", namespace: meta.namespace ?? "", body: { gracePeriodSeconds: 0, preconditions: { uid: meta.uid ?? "" } } });
      log.info("pod deletion finished");
    } catch (err) {
      // 404: gone already; 409: the uid precondition failed, so a new pod of that name is not ours to delete.
      const code = statusCode(err);
      if (code !== 404 && code !== 409) throw err;
    }
  }

  private async nodeGone(): Promise<void> {
    this.o.log.warn("the Node was deleted: killing its pods' processes, as a reclaimed machine would", { node: this.o.node.name });
    this.stopping = true;
    await this.watch.stop().catch(() => undefined);
    for (const r of this.records.values()) for (const c of r.containers) c.process?.signal("SIGKILL");
    await Promise.all([...this.records.values()].flatMap((r) => r.containers.map((c) => c.process?.done)));
    this.resolveClosed("node-deleted");
  }

  /**
   * Stops the agent: SIGTERM to every pod's processes, SIGKILL after their grace period (at most
   * stopGraceCapSeconds), their final status reported, and the Node deleted when asked.
   */
  async stop(options: { deleteNode?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.heartbeat.stop();
    await this.watch.stop().catch(() => undefined);
    await Promise.all([...this.inFlight.values()]);
    const cap = this.o.stopGraceCapSeconds ?? 10;
    await Promise.all(
      [...this.records.values()].map(async (r) => {
        if (r.timer) clearTimeout(r.timer);
        const alive = r.containers.flatMap((c) => (c.process && !c.process.exit ? [c.process] : []));
        if (alive.length === 0) return;
        const grace = Math.min(cap, this.watch.get(r.uid)?.spec?.terminationGracePeriodSeconds ?? 30);
        alive.forEach((p) => p.signal("SIGTERM"));
        const kill = setTimeout(() => alive.forEach((p) => p.signal("SIGKILL")), grace * 1000);
        await Promise.all(alive.map((p) => p.done));
        clearTimeout(kill);
        const pod = this.watch.get(r.uid);
        if (pod) await this.report(r, pod, this.o.log.child({ pod: `${r.namespace}/${r.name}` })).catch(() => undefined);
      }),
    );
    if (options.deleteNode) await this.heartbeat.leave();
    this.o.log.info("node agent stopped", { node: this.o.node.name, deletedNode: options.deleteNode === true });
    this.resolveClosed("stopped");
  }
}
