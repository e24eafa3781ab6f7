// The imperative shell around plan(): informer caches in, idempotent API calls out. Level-triggered: every event only
// enqueues the job's key, and each reconcile looks at the whole picture again.
import {
  CoreV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1Node,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1Service,
} from "@kubernetes/client-node";
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type JobStatus, type LLMTrainingJob } from "@gantry/crds";
import { gangPdb, headlessService, workerPod, type ChildDefaults, type JobRef } from "../core/children.js";
import { LABELS, MANAGER, pdbName, podName, serviceName } from "../core/names.js";
import type { Observed, ObservedNode, ObservedPod } from "../core/observed.js";
import { DEFAULT_PLAN_CONFIG, plan, type Action, type PlanConfig, type StoredJob } from "../core/plan.js";
import type { OperatorConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { OperatorMetrics } from "../metrics.js";
import { statusCode } from "./api-error.js";
import { watch, type Watched } from "./informer.js";
import { observeNode, observePod } from "./observe.js";
import { ProgressReader } from "./progress-reader.js";
import { WorkQueue } from "./work-queue.js";

type JobObject = KubernetesObject & StoredJob;

/** How long to wait for the cache to show pods we created before planning without them. */
const EXPECTATION_TTL_MS = 30_000;

function rv(obj: KubernetesObject | undefined): bigint {
  try {
    return BigInt(obj?.metadata?.resourceVersion ?? "0");
  } catch {
    return 0n;
  }
}

/** Stable JSON, so two statuses compare equal whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

export interface ControllerOptions {
  kc: KubeConfig;
  config: OperatorConfig;
  log: Logger;
  metrics: OperatorMetrics;
  plan?: PlanConfig;
  /** How often a running job's progress record is read (default 10 s). */
  progressIntervalMs?: number;
}

export class Controller {
  private readonly core: CoreV1Api;
  private readonly policy: PolicyV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly queue = new WorkQueue();
  private readonly watched: Array<Watched<KubernetesObject>> = [];
  private jobs!: Watched<JobObject>;
  private nodes!: Watched<V1Node>;
  private services!: Watched<V1Service>;
  private pdbs!: Watched<V1PodDisruptionBudget>;
  /** Pods by job uid, kept from pod events. */
  private readonly podsByJob = new Map<string, Map<string, V1Pod>>();
  /** Pod names created but not yet seen in the cache, by job uid. */
  private readonly expected = new Map<string, { names: Set<string>; until: number }>();
  /** The newest job object this controller wrote, until the cache catches up with it. */
  private readonly written = new Map<string, JobObject>();
  private running: Promise<void> | undefined;
  private readonly defaults: ChildDefaults;
  private readonly progress: ProgressReader | undefined;
  private readonly progressIntervalMs: number;

  constructor(private readonly options: ControllerOptions) {
    this.core = options.kc.makeApiClient(CoreV1Api);
    this.policy = options.kc.makeApiClient(PolicyV1Api);
    this.custom = options.kc.makeApiClient(CustomObjectsApi);
    const c = options.config;
    this.defaults = { trainerImage: c.trainerImage, checkpointBase: c.checkpointBase };
    if (c.trainerCommand) this.defaults.trainerCommand = c.trainerCommand;
    if (c.redisUrl) this.defaults.redisUrl = c.redisUrl;
    if (c.s3Endpoint) this.defaults.s3Endpoint = c.s3Endpoint;
    this.progressIntervalMs = options.progressIntervalMs ?? 10_000;
    this.progress = c.redisUrl ? new ProgressReader(c.redisUrl, this.progressIntervalMs, options.log) : undefined;
  }

  /** True once every cache has listed. */
  synced(): boolean {
    return this.watched.length > 0 && this.watched.every((w) => w.synced());
  }

  private namespaces(): Array<string | undefined> {
    const ns = this.options.config.watchNamespaces;
    return ns.length === 0 ? [undefined] : ns;
  }

  private enqueueJobOf(obj: KubernetesObject): void {
    const name = obj.metadata?.labels?.[LABELS.job];
    const ns = obj.metadata?.namespace;
    if (name && ns) this.queue.add(`${ns}/${name}`);
  }

  private startWatches(): void {
    const { kc, log } = this.options;
    const selector = `${LABELS.managedBy}=${MANAGER}`;
    const [only] = this.namespaces();
    const scoped = this.options.config.watchNamespaces.length === 1 && only !== undefined;
    const jobsPath = scoped ? `/apis/${GROUP}/${VERSION}/namespaces/${only}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
    const allowed = (obj: KubernetesObject) => {
      const list = this.options.config.watchNamespaces;
      return list.length === 0 || list.includes(obj.metadata?.namespace ?? "");
    };
    this.jobs = watch<JobObject>({
      kc,
      log,
      path: jobsPath,
      list: async () =>
        (scoped
          ? await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: only, plural: PLURAL })
          : await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as { items: JobObject[]; metadata?: { resourceVersion?: string } },
      onChange: (job) => {
        if (allowed(job)) this.queue.add(`${job.metadata.namespace}/${job.metadata.name}`);
      },
    });
    const pods = watch<V1Pod>({
      kc,
      log,
      path: scoped ? `/api/v1/namespaces/${only}/pods` : "/api/v1/pods",
      labelSelector: selector,
      list: () => (scoped ? this.core.listNamespacedPod({ namespace: only, labelSelector: selector }) : this.core.listPodForAllNamespaces({ labelSelector: selector })),
      // Pods are never updated from the cache, and plan() reads only labels, phase, conditions and exits (see
      // observePod): the environment, with the whole spec as JSON, is most of a worker pod's bytes.
      slim: (pod) => {
        for (const c of pod.spec?.containers ?? []) delete c.env;
      },
      onChange: (pod, verb) => {
        const uid = pod.metadata?.labels?.[LABELS.jobUid];
        const name = pod.metadata?.name;
        if (!uid || !name) return;
        let byName = this.podsByJob.get(uid);
        if (!byName) this.podsByJob.set(uid, (byName = new Map()));
        if (verb === "delete") byName.delete(name);
        else byName.set(name, pod);
        if (byName.size === 0) this.podsByJob.delete(uid);
        if (allowed(pod)) this.enqueueJobOf(pod);
      },
    });
    this.nodes = watch<V1Node>({
      kc,
      log,
      path: "/api/v1/nodes",
      list: () => this.core.listNode(),
      onChange: (node) => {
        // A node change matters to the jobs with pods on it.
        for (const byName of this.podsByJob.values()) {
          for (const pod of byName.values()) if (pod.spec?.nodeName === node.metadata?.name) this.enqueueJobOf(pod);
        }
      },
    });
    this.services = watch<V1Service>({
      kc,
      log,
      path: scoped ? `/api/v1/namespaces/${only}/services` : "/api/v1/services",
      labelSelector: selector,
      list: () => (scoped ? this.core.listNamespacedService({ namespace: only, labelSelector: selector }) : this.core.listServiceForAllNamespaces({ labelSelector: selector })),
      onChange: (o) => allowed(o) && this.enqueueJobOf(o),
    });
    this.pdbs = watch<V1PodDisruptionBudget>({
      kc,
      log,
      path: scoped ? `/apis/policy/v1/namespaces/${only}/poddisruptionbudgets` : "/apis/policy/v1/poddisruptionbudgets",
      labelSelector: selector,
      list: () =>
        scoped
          ? this.policy.listNamespacedPodDisruptionBudget({ namespace: only, labelSelector: selector })
          : this.policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: selector }),
      onChange: (o) => allowed(o) && this.enqueueJobOf(o),
    });
    this.watched.push(this.jobs, pods as Watched<KubernetesObject>, this.nodes, this.services, this.pdbs);
  }

  start(): void {
    this.startWatches();
    const { log, metrics } = this.options;
    this.running = this.queue.run(
      this.options.config.concurrency,
      async (key) => {
        const end = metrics.reconcileSeconds.startTimer();
        try {
          return await this.reconcile(key);
        } finally {
          end();
          metrics.queueDepth.set(this.queue.depth);
        }
      },
      (key, err) => log.error("reconcile failed", { job: key, error: err instanceof Error ? err.message : String(err) }),
    );
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await Promise.all(this.watched.map((w) => w.stop()));
    await this.running;
    this.progress?.close();
  }

  /** The job as fresh as we know it: the cache, or what we last wrote if the cache has not caught up. */
  private currentJob(key: string): JobObject | undefined {
    const [namespace, name] = key.split("/");
    if (!namespace || !name) return undefined;
    const cached = this.jobs.get(name, namespace);
    const mine = this.written.get(key);
    if (!cached) {
      this.written.delete(key);
      return undefined;
    }
    if (mine && mine.metadata.uid === cached.metadata.uid && rv(mine) > rv(cached)) return mine;
    this.written.delete(key);
    return cached;
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    if (!this.synced()) return { requeueAfterMs: 500 };
    const job = this.currentJob(key);
    if (!job || job.metadata.deletionTimestamp) return undefined;
    const uid = job.metadata.uid;
    const podsHere = [...(this.podsByJob.get(uid)?.values() ?? [])];
    const expectation = this.expected.get(uid);
    if (expectation) {
      const seen = new Set(podsHere.map((p) => p.metadata?.name));
      if ([...expectation.names].every((n) => seen.has(n)) || Date.now() > expectation.until) this.expected.delete(uid);
      else return { requeueAfterMs: 250 };
    }
    const pods = podsHere.map(observePod).filter((p): p is ObservedPod => p !== undefined);
    const nodes = new Map<string, ObservedNode>();
    for (const p of pods) {
      if (!p.nodeName || nodes.has(p.nodeName)) continue;
      const node = this.nodes.get(p.nodeName);
      const observed = node ? observeNode(node) : undefined;
      if (observed) nodes.set(p.nodeName, observed);
    }
    const ns = job.metadata.namespace;
    const owned = (o: KubernetesObject | undefined) => o?.metadata?.labels?.[LABELS.jobUid] === uid;
    const observed: Observed = {
      pods,
      nodes,
      serviceExists: owned(this.services.get(serviceName(job.metadata.name), ns)),
      pdbExists: owned(this.pdbs.get(pdbName(job.metadata.name), ns)),
    };
    const phase = (job.status as { phase?: string } | undefined)?.phase;
    const active = phase === "Running" || phase === "Restarting" || phase === "Scheduling";
    // When worker 0 has finished, the job is about to be Succeeded: its final record (the last checkpoint) must not
    // wait out the read interval, or status would keep an older step for good.
    const finishing = pods.some((p) => p.worker === 0 && p.phase === "Succeeded");
    const progress = active ? await this.progress?.read(uid, Date.now(), finishing) : undefined;
    if (progress) observed.progress = progress;
    const result = plan(job, observed, new Date(), this.options.plan ?? DEFAULT_PLAN_CONFIG);
    const ref: JobRef = { name: job.metadata.name, namespace: ns, uid };
    await this.execute(job, ref, result.actions, result.job);
    if (canonical(result.status) !== canonical(job.status ?? {})) {
      await this.writeStatus(key, job, result.status);
      this.countRestarts(job.status, result.status);
    }
    // A running job is looked at again to mirror its progress, even when nothing else changes.
    const next = active && this.progress ? Math.min(result.requeueAfterMs ?? Infinity, this.progressIntervalMs) : result.requeueAfterMs;
    return next === undefined ? undefined : { requeueAfterMs: next };
  }

  private async call<T>(verb: string, resource: string, fn: () => Promise<T>, tolerate: number[] = []): Promise<T | undefined> {
    this.options.metrics.apiWrites.inc({ verb, resource });
    try {
      return await fn();
    } catch (err) {
      if (tolerate.includes(statusCode(err) ?? -1)) return undefined;
      this.options.metrics.apiErrors.inc({ verb, resource });
      throw err;
    }
  }

  private async execute(job: JobObject, ref: JobRef, actions: readonly Action[], valid: LLMTrainingJob | undefined): Promise<void> {
    const ns = ref.namespace;
    const creates: Array<Promise<unknown>> = [];
    const names = new Set<string>();
    for (const a of actions) {
      switch (a.type) {
        case "createService":
          creates.push(this.call("create", "services", () => this.core.createNamespacedService({ namespace: ns, body: headlessService(ref) }), [409]));
          break;
        case "createPdb":
          creates.push(this.call("create", "poddisruptionbudgets", () => this.policy.createNamespacedPodDisruptionBudget({ namespace: ns, body: gangPdb(ref, a.minAvailable) }), [409]));
          break;
        case "deletePdb":
          creates.push(this.call("delete", "poddisruptionbudgets", () => this.policy.deleteNamespacedPodDisruptionBudget({ name: pdbName(ref.name), namespace: ns }), [404]));
          break;
        case "createPod": {
          if (!valid) break;
          const body = workerPod(valid, ref, a.attempt, a.worker, a.workers, this.defaults);
          names.add(podName(ref.name, a.attempt, a.worker));
          creates.push(this.call("create", "pods", () => this.core.createNamespacedPod({ namespace: ns, body }), [409]));
          break;
        }
        case "deletePod":
          creates.push(
            this.call("delete", "pods", () => this.core.deleteNamespacedPod({ name: a.name, namespace: ns, ...(a.force ? { gracePeriodSeconds: 0 } : {}) }), [404]),
          );
          break;
        case "deleteJob":
          creates.push(
            this.call("delete", PLURAL, () => this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: ref.name, propagationPolicy: "Background" }), [404]),
          );
          break;
        case "event":
          creates.push(this.event(job, a).catch((err: unknown) => this.options.log.warn("event not recorded", { job: `${ns}/${ref.name}`, error: String(err) })));
          break;
      }
    }
    if (names.size > 0) this.expected.set(ref.uid, { names, until: Date.now() + EXPECTATION_TTL_MS });
    // One parallel burst: a gang of 64 workers is created as fast as the API server takes it.
    const results = await Promise.allSettled(creates);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  private async event(job: JobObject, a: Extract<Action, { type: "event" }>): Promise<void> {
    const now = new Date();
    await this.call("create", "events", () =>
      this.core.createNamespacedEvent({
        namespace: job.metadata.namespace,
        body: {
          metadata: { generateName: `${job.metadata.name}.`, namespace: job.metadata.namespace },
          involvedObject: { apiVersion: API_VERSION, kind: KIND, name: job.metadata.name, namespace: job.metadata.namespace, uid: job.metadata.uid },
          reason: a.reason,
          message: a.message.slice(0, 1024),
          type: a.kind,
          source: { component: MANAGER },
          reportingComponent: MANAGER,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      }),
    );
  }

  /** Replaces the status with optimistic concurrency; a 409 throws, and the retry plans again on fresh data. */
  private async writeStatus(key: string, job: JobObject, status: JobStatus): Promise<void> {
    const body = { ...job, apiVersion: API_VERSION, kind: KIND, status };
    const updated = (await this.call("update", `${PLURAL}/status`, () =>
      this.custom.replaceNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace: job.metadata.namespace, plural: PLURAL, name: job.metadata.name, body }),
    )) as JobObject | undefined;
    if (updated) this.written.set(key, updated);
    this.options.log.info("status", { job: job.metadata.name, namespace: job.metadata.namespace, attempt: status.attempt, phase: status.phase });
  }

  /** Restarts by cause, from the counters plan() keeps in status, so the metric cannot disagree with them. */
  private countRestarts(before: unknown, after: JobStatus): void {
    const old = (before as JobStatus | undefined)?.restarts ?? { preemption: 0, failure: 0 };
    const now = after.restarts ?? { preemption: 0, failure: 0 };
    for (const cause of ["preemption", "failure"] as const) {
      if (now[cause] > old[cause]) this.options.metrics.restarts.inc({ cause }, now[cause] - old[cause]);
    }
  }

  /** Counts of jobs by phase, for the metric. */
  phases(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const job of this.jobs?.list() ?? []) {
      const phase = (job.status as { phase?: string } | undefined)?.phase ?? "Pending";
      out[phase] = (out[phase] ?? 0) + 1;
    }
    return out;
  }
}
