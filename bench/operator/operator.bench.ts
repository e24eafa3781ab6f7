// bench-operator: the operator as its own process against the local control plane with KWOK GPU nodes.
// 100 jobs × 8 workers: job creation → all pods created (p50/p99), → all jobs Running; API writes per job; writes
// during a no-op resync; operator RSS at 100 jobs and at 1000 jobs.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, makeInformer, type V1Pod } from "@kubernetes/client-node";
import { clusterUp, REPO_ROOT } from "../../test/support/cluster-env.js";
import { pooledFromFile } from "../../operator/src/kube-config.js";
import { ensureCrd, freshNamespace } from "../../test/support/kube.js";
import { Nodes } from "../../test/support/nodes.js";
import { waitFor } from "../../test/support/wait.js";
import { printResult, printTable } from "../table.js";

const JOBS = Number(process.env["BENCH_JOBS"] ?? 100);
const WORKERS = 8;
const EXTRA_JOBS = Number(process.env["BENCH_EXTRA_JOBS"] ?? 900);
const PORT = 18181;
const TARGET_P99_MS = 1000;
const TARGET_RSS_MB = 250;
const GROUP = { group: "gantry.dev", version: "v1alpha1", plural: "llmtrainingjobs" };

const env = clusterUp();
// The harness pools its connections too, so that it is not what the figures measure.
const kc = pooledFromFile(env.KUBECONFIG);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
await ensureCrd(env);
const ns = await freshNamespace(kc, "bench");
await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true, { timeoutMs: 60_000 });

// Capacity for every worker: 100 nodes × 8 GPUs, private to this run.
const nodes = new Nodes(kc);
const nodeNames = Array.from({ length: Math.ceil((JOBS * WORKERS) / 8) }, (_, i) => `${ns.name}-n${i}`);
await Promise.all(nodeNames.map((n) => nodes.add("gpu-a100", n, { private: ns.name })));

function startOperator() {
  // The built operator in one node process, as its image runs it (`make bench-operator` builds first): RSS is the
  // operator's, not a launcher's or a TypeScript loader's (tsx alone adds about 70 MB).
  return spawn(process.execPath, [join(REPO_ROOT, "operator", "dist", "cli", "operator.js")], {
    cwd: REPO_ROOT,
    env: { ...process.env, KUBECONFIG: env.KUBECONFIG, GANTRY_WATCH_NAMESPACES: ns.name, GANTRY_LEADER_ELECTION: "false", GANTRY_HTTP_PORT: String(PORT), GANTRY_LOG_LEVEL: "error" },
    stdio: ["ignore", "inherit", "inherit"],
  });
}
let operator = startOperator();
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${operator.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
async function writes(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("gantry_api_writes_total{"))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}
const ready = () => waitFor("the operator to be ready", () => fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.ok), (x) => x, { timeoutMs: 60_000 });
await ready();

// Watch pods arrive, to time job → all its pods created from this side.
const created = new Map<string, number>();
const podsSeen = new Map<string, number>();
const allPods = new Map<string, number>();
const informer = makeInformer<V1Pod>(kc, `/api/v1/namespaces/${ns.name}/pods`, () => core.listNamespacedPod({ namespace: ns.name }));
informer.on("add", (pod) => {
  const job = pod.metadata?.labels?.["gantry.dev/job"];
  if (!job) return;
  const n = (podsSeen.get(job) ?? 0) + 1;
  podsSeen.set(job, n);
  if (n === WORKERS) allPods.set(job, performance.now());
});
await informer.start();

function jobBody(name: string, workers: number) {
  return {
    apiVersion: "gantry.dev/v1alpha1",
    kind: "LLMTrainingJob",
    metadata: { name },
    spec: {
      data: { source: "file:///data" },
      training: { steps: 10, globalBatchSize: 8 * workers, microBatchSize: 8 },
      workers,
      resources: { gpusPerWorker: 1, cpu: "1", memory: "1Gi" },
      scheduling: {
        nodeSelector: { "gantry.dev/test-pool": ns.name },
        tolerations: [{ key: "gantry.dev/test-pool", operator: "Equal", value: ns.name, effect: "NoSchedule" }],
      },
    },
  };
}

async function createAll(names: string[], workers: number) {
  const queue = [...names];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const t = performance.now();
        await custom.createNamespacedCustomObject({ ...GROUP, namespace: ns.name, body: jobBody(name, workers) });
        created.set(name, t);
      }
    }),
  );
}

// The limit on this machine: the same number of pods created directly, 64 requests in flight, no operator.
async function rawCreate(count: number): Promise<number> {
  const queue = Array.from({ length: count }, (_, i) => `raw-${i}`);
  const t = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        await core.createNamespacedPod({
          namespace: ns.name,
          body: { metadata: { name, labels: { "gantry.dev/bench": "raw" } }, spec: { nodeName: nodeNames[0] ?? "", containers: [{ name: "c", image: "x" }] } },
        });
      }
    }),
  );
  const ms = performance.now() - t;
  await core.deleteCollectionNamespacedPod({ namespace: ns.name, labelSelector: "gantry.dev/bench=raw", gracePeriodSeconds: 0 });
  await waitFor("raw pods to go", () => core.listNamespacedPod({ namespace: ns.name, labelSelector: "gantry.dev/bench=raw" }), (l) => l.items.length === 0, { timeoutMs: 120_000 });
  return ms;
}
const rawMs = await rawCreate(JOBS * WORKERS);

const names = Array.from({ length: JOBS }, (_, i) => `job-${i}`);
const writesBefore = await writes();
const t0 = performance.now();
await createAll(names, WORKERS);
await waitFor("every job's pods", () => allPods.size, (n) => n >= JOBS, { timeoutMs: 300_000, intervalMs: 100 });
const podsDoneMs = performance.now() - t0;
const listRunning = async () =>
  ((await custom.listNamespacedCustomObject({ ...GROUP, namespace: ns.name })) as { items: Array<{ status?: { phase?: string } }> }).items.filter((j) => j.status?.phase === "Running").length;
await waitFor("every job to run", listRunning, (n) => n >= JOBS, { timeoutMs: 600_000, intervalMs: 500 });
const runningMs = performance.now() - t0;
await new Promise((r) => setTimeout(r, 3000));
const writesSettled = await writes();
const perJob = (writesSettled - writesBefore) / JOBS;

const rss100 = rssMb();
// A no-op resync: a fresh operator process lists every job and reconciles each once; nothing has changed, so it
// must write nothing.
operator.kill("SIGTERM");
await new Promise((r) => operator.once("exit", r));
operator = startOperator();
await ready();
await new Promise((r) => setTimeout(r, 10_000));
const noopWrites = await writes();

const latencies = names.map((n) => (allPods.get(n) ?? Number.NaN) - (created.get(n) ?? Number.NaN)).sort((a, b) => a - b);
const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;

// 1000 jobs: 900 more, one worker each, and the RSS once they all run.
const extra = Array.from({ length: EXTRA_JOBS }, (_, i) => `small-${i}`);
const extraNodes = Array.from({ length: Math.ceil(EXTRA_JOBS / 8) }, (_, i) => `${ns.name}-m${i}`);
await Promise.all(extraNodes.map((n) => nodes.add("gpu-a100", n, { private: ns.name })));
await createAll(extra, 1);
await waitFor("all 1000 jobs to run", listRunning, (n) => n >= JOBS + EXTRA_JOBS, { timeoutMs: 900_000, intervalMs: 2000 });
await new Promise((r) => setTimeout(r, 3000));
const rss1000 = rssMb();

printTable(`Operator: ${JOBS} jobs × ${WORKERS} workers, then ${JOBS + EXTRA_JOBS} jobs, on ${nodeNames.length + extraNodes.length} KWOK nodes`, [
  { measure: "job → all pods created, p50", value: pct(0.5), unit: "ms" },
  { measure: "job → all pods created, p99", value: pct(0.99), unit: "ms" },
  { measure: `all ${JOBS * WORKERS} pods created`, value: podsDoneMs / 1000, unit: "s" },
  { measure: `${JOBS * WORKERS} bare pods created directly (the limit)`, value: rawMs / 1000, unit: "s" },
  { measure: "operator's pod creation ÷ the limit", value: podsDoneMs / rawMs, unit: "×" },
  { measure: `all ${JOBS} jobs Running`, value: runningMs / 1000, unit: "s" },
  { measure: "API writes per job (to Running)", value: perJob, unit: "writes" },
  { measure: `writes of a fresh operator resyncing ${JOBS} jobs`, value: noopWrites, unit: "writes" },
  { measure: `operator RSS at ${JOBS} jobs`, value: rss100, unit: "MB" },
  { measure: `operator RSS at ${JOBS + EXTRA_JOBS} jobs`, value: rss1000, unit: "MB" },
]);

operator.kill("SIGTERM");
await informer.stop();
for (const n of [...nodeNames, ...extraNodes]) await nodes.remove(n).catch(() => undefined);
await ns.delete();

printResult({
  bench: "operator",
  jobs: JOBS,
  workers_per_job: WORKERS,
  pods_created_p50_ms: Math.round(pct(0.5)),
  pods_created_p99_ms: Math.round(pct(0.99)),
  all_pods_created_s: Number((podsDoneMs / 1000).toFixed(2)),
  raw_pods_created_s: Number((rawMs / 1000).toFixed(2)),
  operator_vs_raw_ratio: Number((podsDoneMs / rawMs).toFixed(2)),
  all_running_s: Number((runningMs / 1000).toFixed(2)),
  api_writes_per_job: Number(perJob.toFixed(2)),
  noop_writes: noopWrites,
  rss_mb_100_jobs: Math.round(rss100),
  rss_mb_1000_jobs: Math.round(rss1000),
  meets: {
    pods_created_p99_ms: pct(0.99) < TARGET_P99_MS,
    noop_writes: noopWrites === 0,
    rss_mb_1000_jobs: rss1000 < TARGET_RSS_MB,
  },
});
process.exit(0);
