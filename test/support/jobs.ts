// LLMTrainingJobs in a test namespace: create from a small base spec, read back, list their pods, end their workers.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { JobStatus } from "@gantry/crds";
import { waitFor } from "./wait.js";

export const JOB_API = { group: "gantry.dev", version: "v1alpha1", plural: "llmtrainingjobs" } as const;

export interface StoredTestJob {
  metadata: { uid: string; resourceVersion: string };
  spec: { workers: number };
  status?: JobStatus;
}

type Spec = Record<string, unknown>;

export class TestJobs {
  private readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  /** `base` is the spec every job starts from; create() overrides its top-level fields. */
  constructor(
    kc: KubeConfig,
    readonly namespace: string,
    private readonly base: Spec = {
      data: { source: "file:///data" },
      training: { steps: 10, globalBatchSize: 16, microBatchSize: 4 },
      workers: 4,
      resources: { gpusPerWorker: 1, cpu: "1", memory: "1Gi" },
    },
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async create(name: string, spec: Spec = {}): Promise<void> {
    await this.custom.createNamespacedCustomObject({
      ...JOB_API,
      namespace: this.namespace,
      body: { apiVersion: "gantry.dev/v1alpha1", kind: "LLMTrainingJob", metadata: { name }, spec: { ...this.base, ...spec } },
    });
  }

  async read(name: string): Promise<StoredTestJob> {
    return (await this.custom.getNamespacedCustomObject({ ...JOB_API, namespace: this.namespace, name })) as StoredTestJob;
  }

  async pods(name: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `gantry.dev/job=${name}` })).items;
  }

  /** Pods not being deleted. */
  async livePods(name: string): Promise<V1Pod[]> {
    return (await this.pods(name)).filter((p) => !p.metadata?.deletionTimestamp);
  }

  /** Ends a pod's containers with this exit code and, optionally, the kubelet's reason (KWOK's gantry-pod-exit stage). */
  async exit(pod: string, code: number, reason?: string): Promise<void> {
    const ops = [{ op: "add", path: "/metadata/annotations/gantry.dev~1simulate-exit-code", value: String(code) }];
    if (reason !== undefined) ops.unshift({ op: "add", path: "/metadata/annotations/gantry.dev~1simulate-exit-reason", value: reason });
    await this.core.patchNamespacedPod({ name: pod, namespace: this.namespace, body: ops });
  }

  /** Events recorded on a job, oldest first. */
  async events(name: string): Promise<{ reason: string; message: string; type: string }[]> {
    const list = await this.core.listNamespacedEvent({ namespace: this.namespace, fieldSelector: `involvedObject.name=${name},involvedObject.kind=LLMTrainingJob` });
    return list.items.map((e) => ({ reason: e.reason ?? "", message: e.message ?? "", type: e.type ?? "" }));
  }

  waitPhase(name: string, phase: string, attempt?: number, timeoutMs = 60_000): Promise<StoredTestJob> {
    const what = `job ${name} to be ${phase}${attempt === undefined ? "" : ` in attempt ${attempt}`}`;
    return waitFor(what, () => this.read(name), (j) => j.status?.phase === phase && (attempt === undefined || j.status.attempt === attempt), { timeoutMs });
  }

  /** Deletes a job and waits for its pods to go. */
  async delete(name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({ ...JOB_API, namespace: this.namespace, name, propagationPolicy: "Foreground" });
    await waitFor(`${name}'s pods to go`, () => this.pods(name), (p) => p.length === 0, { timeoutMs: 60_000 });
  }
}
