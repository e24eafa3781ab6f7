// The local node agent (test/node-agent): a Node it registers runs real processes for the pods bound to it, with
// their environment, loopback pod IPs, status, exit codes, termination messages and the kubelet's deletion protocol.
import { randomBytes } from "node:crypto";
import { CoordinationV1Api, CoreV1Api, PatchStrategy, Watch, setHeaderOptions, type V1Container, type V1Pod, type V1PodSpec } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { defaultIpBase } from "../node-agent/loopback-ips.js";
import { freshNamespace, kubeConfig, type TestNamespace } from "../support/kube.js";
import { agentContainerLog, agentPodFiles, startNodeAgent, type NodeAgentProcess } from "../support/node-agent.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const core = kc.makeApiClient(CoreV1Api);
const node = `agent-${randomBytes(3).toString("hex")}`;
const ipBase = defaultIpBase(node);
// Only pods that ask for this node land on it: other tests' GPU pods must not run here.
const PRIVATE = "gantry.dev/test-pool";
const CANARY = "GANTRY_NODE_AGENT_CANARY";
let ns: TestNamespace;
let agent: NodeAgentProcess;

const startAgent = () => startNodeAgent(env, { node, gpus: 2, ipBase, taints: [`${PRIVATE}=${node}:NoSchedule`], labels: { [PRIVATE]: node }, heartbeatSeconds: 2, env: { [CANARY]: "the agent's own" } });

beforeAll(async () => {
  ns = await freshNamespace(kc, "agent");
  agent = await startAgent();
});
afterAll(async () => {
  await agent?.stop();
  await core.deleteNode({ name: node }).catch(() => undefined);
  await ns?.delete();
});

const DOWNWARD = [
  { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
  { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
];
const echo = (args: string[], extra: Partial<V1Container> = {}): V1Container => ({ name: "echo", image: "gantry/test-echo:dev", args, env: DOWNWARD, ...extra });

/** A pod bound to the agent's node by nodeName, unless `spec` gives a nodeSelector for the scheduler to follow. */
async function createPod(name: string, containers: V1Container[], spec: Partial<V1PodSpec> = {}): Promise<V1Pod> {
  const placement = spec.nodeSelector ? {} : { nodeName: node };
  return core.createNamespacedPod({
    namespace: ns.name,
    body: { metadata: { name, labels: { app: name } }, spec: { ...placement, restartPolicy: "Never", terminationGracePeriodSeconds: 10, containers, ...spec } },
  });
}

const readPod = (name: string) => core.readNamespacedPod({ name, namespace: ns.name });
const waitPhase = (name: string, phase: string) => waitFor(`pod ${name} to be ${phase}`, () => readPod(name), (p) => p.status?.phase === phase, { timeoutMs: 20_000 });
const uidOf = (p: V1Pod) => p.metadata?.uid ?? "";
const logOf = (p: V1Pod, container = "echo") => agentContainerLog(ns.name, p.metadata?.name ?? "", uidOf(p), container);
/** The environment the fixture printed as its first line. */
const printedEnv = (p: V1Pod) => (JSON.parse(logOf(p).split("\n")[0] ?? "{}") as { env: Record<string, string> }).env;
const printedPid = (p: V1Pod) => (JSON.parse(logOf(p).split("\n")[0] ?? "{}") as { pid: number }).pid;
const terminated = (p: V1Pod, container = "echo") => p.status?.containerStatuses?.find((c) => c.name === container)?.state?.terminated;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every version of a pod the API shows from now until it is deleted. */
function history(name: string): { versions: V1Pod[]; gone: Promise<void>; stop: () => void } {
  const versions: V1Pod[] = [];
  let abort: AbortController | undefined;
  const gone = new Promise<void>((resolve, reject) => {
    void new Watch(kc)
      .watch(`/api/v1/namespaces/${ns.name}/pods`, { fieldSelector: `metadata.name=${name}` }, (type: string, obj: V1Pod) => {
        versions.push(obj);
        if (type === "DELETED") resolve();
      }, (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : undefined))
      .then((a) => (abort = a), reject);
  });
  return { versions, gone, stop: () => abort?.abort() };
}

async function deleteAndRecord(name: string, options: { gracePeriodSeconds?: number } = {}): Promise<V1Pod[]> {
  const h = history(name);
  await new Promise((r) => setTimeout(r, 200)); // the watch is open before the deletion
  await core.deleteNamespacedPod({ name, namespace: ns.name, ...options });
  await Promise.race([h.gone, new Promise((_, reject) => setTimeout(() => reject(new Error(`pod ${name} was not deleted in 20 s`)), 20_000))]);
  h.stop();
  return h.versions;
}

describe("the node", () => {
  it("is registered Ready with the pool's labels, GPU capacity and a renewed Lease, and without KWOK's annotation", async () => {
    const n = await waitFor("the agent's node to be Ready", () => core.readNode({ name: node }), (x) => x.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);
    expect(n.metadata?.annotations?.["kwok.x-k8s.io/node"]).toBeUndefined();
    expect(n.metadata?.labels).toMatchObject({ "gantry.dev/pool": "gpu-a100", "gantry.dev/node-agent": "true", "kubernetes.io/hostname": node, [PRIVATE]: node });
    expect(n.status?.capacity?.["nvidia.com/gpu"]).toBe("2");
    expect(n.status?.allocatable?.["nvidia.com/gpu"]).toBe("2");
    expect(n.status?.addresses).toContainEqual({ type: "InternalIP", address: "127.0.0.1" });
    expect(n.spec?.taints).toContainEqual({ key: PRIVATE, value: node, effect: "NoSchedule" });
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: node, namespace: "kube-node-lease" });
    expect(lease.spec?.holderIdentity).toBe(node);
    expect(lease.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Node", name: node, uid: n.metadata?.uid });
  });
});

describe("a pod's environment", () => {
  it("resolves values, $(VAR), Secret and ConfigMap keys, optional refs and the downward API; the agent's own env does not leak", async () => {
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: "creds" }, stringData: { token: "s3cr3t value", other: "x" } } });
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "settings" }, data: { mode: "fast" } } });
    const created = await createPod(
      "env",
      [
        echo(["--message", "mode $(MODE)", "--exit", "0"], {
          env: [
            { name: "PLAIN", value: "one" },
            { name: "DERIVED", value: "$(PLAIN)-two $$(PLAIN) $(UNDEFINED)" },
            { name: "TOKEN", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } },
            { name: "MODE", valueFrom: { configMapKeyRef: { name: "settings", key: "mode" } } },
            { name: "ABSENT_SECRET", valueFrom: { secretKeyRef: { name: "no-such-secret", key: "k", optional: true } } },
            { name: "ABSENT_KEY", valueFrom: { configMapKeyRef: { name: "settings", key: "nope", optional: true } } },
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            { name: "POD_UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
            { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
            { name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
            { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          ],
          envFrom: [{ prefix: "CREDS_", secretRef: { name: "creds" } }],
        }),
      ],
    );
    const pod = await waitPhase("env", "Succeeded");
    const e = printedEnv(pod);
    expect(e).toMatchObject({
      PLAIN: "one",
      DERIVED: "one-two $(PLAIN) $(UNDEFINED)",
      TOKEN: "s3cr3t value",
      MODE: "fast",
      CREDS_token: "s3cr3t value",
      CREDS_other: "x",
      POD_NAME: "env",
      POD_NAMESPACE: ns.name,
      POD_UID: uidOf(created),
      POD_IP: pod.status?.podIP,
      HOST_IP: "127.0.0.1",
      NODE_NAME: node,
      APP: "env",
    });
    expect(e).not.toHaveProperty("ABSENT_SECRET");
    expect(e).not.toHaveProperty("ABSENT_KEY");
    expect(e).not.toHaveProperty(CANARY);
    expect(pod.status?.podIP).toMatch(/^127\./);
    expect(pod.status?.hostIP).toBe("127.0.0.1");
    expect(pod.status?.startTime).toBeDefined();
    expect(terminated(pod)).toMatchObject({ exitCode: 0, reason: "Completed", message: "mode fast" });
    const cs = pod.status?.containerStatuses?.[0];
    expect(cs?.restartCount).toBe(0);
    const conditions = Object.fromEntries((pod.status?.conditions ?? []).map((c) => [c.type, c.status]));
    expect(conditions).toMatchObject({ PodScheduled: "True", Initialized: "True", Ready: "False", ContainersReady: "False" });
    expect(agentPodFiles(ns.name, "env", uidOf(pod))).toEqual(["echo.log", "echo.termination-log"]);
  });
});

describe("pod networking and scheduling", () => {
  it("places GPU pods through the scheduler, gives each its own loopback IP, and lets them talk TCP by pod IP", async () => {
    const onAgent: Partial<V1PodSpec> = {
      nodeSelector: { [PRIVATE]: node },
      tolerations: [{ key: PRIVATE, operator: "Equal", value: node, effect: "NoSchedule" }],
    };
    const gpu = (n: number) => ({ resources: { limits: { "nvidia.com/gpu": String(n) } } });
    await createPod("server", [echo(["--serve", "7070"], gpu(1))], onAgent);
    const server = await waitFor("the server to be Running and Ready", () => readPod("server"), (p) => p.status?.phase === "Running" && (p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false), { timeoutMs: 20_000 });
    expect(server.spec?.nodeName).toBe(node);
    await waitFor("the server to listen", () => logOf(server), (l) => l.includes("listening on"));
    await createPod("client", [echo(["--dial", `${server.status?.podIP}:7070`], gpu(1))], onAgent);
    const client = await waitPhase("client", "Succeeded");
    expect(client.status?.podIP).toMatch(/^127\./);
    expect(client.status?.podIP).not.toBe(server.status?.podIP);
    expect(terminated(client)).toMatchObject({ exitCode: 0, message: "hello from server" });
    // Two GPUs on the node: a pod asking for three is refused by the scheduler, so the capacity is what the agent said.
    await createPod("too-big", [echo([], gpu(3))], onAgent);
    const refused = await waitFor("too-big to be unschedulable", () => readPod("too-big"), (p) => p.status?.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable") ?? false);
    expect(refused.status?.conditions?.find((c) => c.type === "PodScheduled")?.message).toContain("nvidia.com/gpu");
  });
});

describe("exits", () => {
  it("fails a pod with each container's exit code, reason and termination message; FallbackToLogsOnError takes the log's end", async () => {
    await createPod("exits", [
      echo(["--message", "all good"], { name: "ok" }),
      echo(["--message", "corrupt shard 7", "--exit", "3"], { name: "bad" }),
      echo(["--say", "the last words on stdout", "--exit", "5"], { name: "quiet", terminationMessagePolicy: "FallbackToLogsOnError" }),
    ]);
    const pod = await waitPhase("exits", "Failed");
    expect(terminated(pod, "ok")).toMatchObject({ exitCode: 0, reason: "Completed", message: "all good" });
    expect(terminated(pod, "bad")).toMatchObject({ exitCode: 3, reason: "Error", message: "corrupt shard 7" });
    expect(terminated(pod, "quiet")).toMatchObject({ exitCode: 5, reason: "Error" });
    expect(terminated(pod, "quiet")?.message?.trim().endsWith("the last words on stdout")).toBe(true);
    expect(pod.status?.containerStatuses?.map((c) => c.restartCount)).toEqual([0, 0, 0]);
  });

  it("fails a pod whose Secret is missing with CreateContainerConfigError naming it, and runs nothing", async () => {
    await createPod("no-secret", [echo([], { env: [{ name: "T", valueFrom: { secretKeyRef: { name: "missing-creds", key: "token" } } }] })]);
    const pod = await waitPhase("no-secret", "Failed");
    expect(pod.status?.reason).toBe("CreateContainerConfigError");
    expect(pod.status?.message).toContain('secret "missing-creds" not found');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting).toMatchObject({ reason: "CreateContainerConfigError" });
    expect(agentPodFiles(ns.name, "no-secret", uidOf(pod))).toEqual([]);
  });

  it("fails a pod whose Secret lacks the key, and one whose image has no local command", async () => {
    await createPod("no-key", [echo([], { env: [{ name: "T", valueFrom: { secretKeyRef: { name: "creds", key: "absent" } } }] })]);
    await createPod("no-image", [{ name: "c", image: "registry.example/unknown:1" }]);
    const noKey = await waitPhase("no-key", "Failed");
    expect(noKey.status?.reason).toBe("CreateContainerConfigError");
    expect(noKey.status?.message).toContain(`couldn't find key absent in Secret ${ns.name}/creds`);
    const noImage = await waitPhase("no-image", "Failed");
    expect(noImage.status?.reason).toBe("ImageNotMapped");
    expect(noImage.status?.message).toContain("registry.example/unknown:1");
  });
});

describe("the trainer image", () => {
  it("runs the real trainer from the checkout: without the operator's environment it exits 2 and says why", async () => {
    await createPod("trainer", [{ name: "trainer", image: "ghcr.io/gantry-dev/trainer:0.1.0", command: ["node", "/app/dist/main.js"] }]);
    const pod = await waitFor("the trainer pod to fail", () => readPod("trainer"), (p) => p.status?.phase === "Failed", { timeoutMs: 40_000 });
    expect(terminated(pod, "trainer")).toMatchObject({ exitCode: 2, reason: "Error", message: "environment variable GANTRY_JOB_NAME is not set" });
    expect(logOf(pod, "trainer")).toContain('"exitCode":2');
  });
});

describe("deletion", () => {
  it("sends SIGTERM to the process group; the trap exits 76, which is reported before the deletion finishes", async () => {
    await createPod("trap", [echo(["--fork-child", "--sleep", "120000"])], { terminationGracePeriodSeconds: 20 });
    const running = await waitPhase("trap", "Running");
    await waitFor("the child to start", () => logOf(running), (l) => l.includes("child"));
    const versions = await deleteAndRecord("trap");
    const last = versions.at(-1);
    expect(last && terminated(last)).toMatchObject({ exitCode: 76, reason: "Error", message: "got SIGTERM" });
    expect(last?.status?.phase).toBe("Failed");
    const log = logOf(running);
    expect(log).toContain("got SIGTERM, exiting 76");
    expect(log).toMatch(/child \d+ got SIGTERM/);
  });

  it("SIGKILLs a process that ignores SIGTERM once the grace period is over", async () => {
    await createPod("stubborn", [echo(["--ignore-sigterm", "--sleep", "120000"])], { terminationGracePeriodSeconds: 2 });
    const running = await waitPhase("stubborn", "Running");
    await waitFor("the fixture to start", () => logOf(running), (l) => l.includes('"pid"'));
    const versions = await deleteAndRecord("stubborn");
    const last = versions.at(-1);
    expect(last && terminated(last)).toMatchObject({ exitCode: 137, signal: 9, reason: "Error" });
    expect(logOf(running)).toContain("got SIGTERM, ignoring it");
    expect(processAlive(printedPid(running))).toBe(false);
  });

  it("kills the processes of a force-deleted pod at once", async () => {
    await createPod("forced", [echo(["--ignore-sigterm", "--sleep", "120000"])], { terminationGracePeriodSeconds: 60 });
    const running = await waitPhase("forced", "Running");
    await waitFor("the fixture to start", () => logOf(running), (l) => l.includes('"pid"'));
    const pid = printedPid(running);
    await deleteAndRecord("forced", { gracePeriodSeconds: 0 });
    // It ignores SIGTERM and its grace period is 60 s: only a kill ends it this soon.
    await waitFor(`process ${pid} to be gone`, () => processAlive(pid), (alive) => !alive, { timeoutMs: 5_000 });
    await expect(readPod("forced")).rejects.toMatchObject({ code: 404 });
  });
});

describe("restarts", () => {
  it("fails the pods a restarted agent lost with NodeAgentRestarted, kills what was left running, and runs new pods", async () => {
    await createPod("orphan", [echo(["--sleep", "120000"])], { terminationGracePeriodSeconds: 1 });
    const running = await waitPhase("orphan", "Running");
    await waitFor("the fixture to start", () => logOf(running), (l) => l.includes('"pid"'));
    const pid = printedPid(running);
    // A crash: the agent dies without stopping anything, and its pod's process lives on.
    await agent.stop("SIGKILL");
    expect(processAlive(pid)).toBe(true);
    agent = await startAgent();
    const lost = await waitPhase("orphan", "Failed");
    expect(lost.status?.reason).toBe("NodeAgentRestarted");
    expect(lost.status?.message).toContain("killed 1");
    expect(terminated(lost)).toMatchObject({ exitCode: 137, reason: "ContainerStatusUnknown" });
    await waitFor(`process ${pid} to be gone`, () => processAlive(pid), (alive) => !alive, { timeoutMs: 5_000 });
    await createPod("after", [echo(["--message", "fresh"])]);
    expect(terminated(await waitPhase("after", "Succeeded"))).toMatchObject({ exitCode: 0, message: "fresh" });
  });
});

describe("heartbeats", () => {
  const lease = kc.makeApiClient(CoordinationV1Api);
  const renewed = async () => new Date((await lease.readNamespacedLease({ name: node, namespace: "kube-node-lease" })).spec?.renewTime ?? 0).getTime();
  const annotate = (value: string | null) =>
    core.patchNode({ name: node, body: { metadata: { annotations: { "gantry.dev/simulate-not-ready": value } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));

  it("renews the Lease, stops while the node is marked as a dead kubelet, and resumes after", async () => {
    const first = await renewed();
    await waitFor("the Lease to be renewed", renewed, (t) => t > first, { timeoutMs: 10_000 });
    await annotate("true");
    await new Promise((r) => setTimeout(r, 2500)); // a beat in flight when the annotation landed may still renew once
    const frozen = await renewed();
    await new Promise((r) => setTimeout(r, 4500)); // two heartbeat intervals
    expect(await renewed()).toBe(frozen);
    await annotate(null);
    await waitFor("the Lease to be renewed again", renewed, (t) => t > frozen, { timeoutMs: 10_000 });
  });
});

describe("stopping the agent", () => {
  it("sends SIGTERM to its pods, posts their final status and exits 0; a new agent serves the node again", async () => {
    await createPod("at-stop", [echo(["--sleep", "120000"])], { terminationGracePeriodSeconds: 5 });
    const running = await waitPhase("at-stop", "Running");
    await waitFor("the fixture to start", () => logOf(running), (l) => l.includes('"pid"'));
    expect(await agent.stop("SIGTERM")).toBe(0);
    const pod = await readPod("at-stop");
    expect(pod.status?.phase).toBe("Failed");
    expect(terminated(pod)).toMatchObject({ exitCode: 76, message: "got SIGTERM" });
    expect(processAlive(printedPid(running))).toBe(false);
    agent = await startAgent();
    await createPod("after-stop", [echo([])]);
    await waitPhase("after-stop", "Succeeded");
  });
});

describe("node loss", () => {
  it("kills its pods' processes and exits 3 when its Node is deleted, as a reclaimed machine", async () => {
    await createPod("doomed", [echo(["--sleep", "120000"])]);
    const running = await waitPhase("doomed", "Running");
    await waitFor("the fixture to start", () => logOf(running), (l) => l.includes('"pid"'));
    const pid = printedPid(running);
    const exited = new Promise<number | null>((resolve) => agent.child.on("exit", (code) => resolve(code)));
    await core.deleteNode({ name: node });
    expect(await exited).toBe(3);
    expect(processAlive(pid)).toBe(false);
  });
});
