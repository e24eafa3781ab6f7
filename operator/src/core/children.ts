// The objects a job owns, built from the validated job: worker pods, the headless Service and the PDB.
// Pure: the reconciler only sends them.
import { MASTER_PORT, POD_ENV, type LLMTrainingJob } from "@gantry/crds";
import type { V1EnvVar, V1OwnerReference, V1Pod, V1PodDisruptionBudget, V1Service, V1Toleration } from "@kubernetes/client-node";
import { LABELS, MANAGER, pdbName, podName, serviceName } from "./names.js";

/** Operator settings that fill what a job leaves to the cluster's defaults. */
export interface ChildDefaults {
  trainerImage: string;
  /** Container command; by default the image's entrypoint. */
  trainerCommand?: string[];
  redisUrl?: string;
  s3Endpoint?: string;
  /** Base URI for checkpoints of jobs that name none: <base>/<namespace>/<name>. */
  checkpointBase: string;
}

export interface JobRef {
  name: string;
  namespace: string;
  uid: string;
}

function ownerReference(ref: JobRef): V1OwnerReference {
  return { apiVersion: "gantry.dev/v1alpha1", kind: "LLMTrainingJob", name: ref.name, uid: ref.uid, controller: true, blockOwnerDeletion: true };
}

function baseLabels(ref: JobRef): Record<string, string> {
  return { [LABELS.job]: ref.name, [LABELS.jobUid]: ref.uid, [LABELS.managedBy]: MANAGER };
}

export function checkpointUri(job: LLMTrainingJob, ref: JobRef, defaults: ChildDefaults): string {
  return job.spec.checkpointing.uri ?? `${defaults.checkpointBase.replace(/\/+$/, "")}/${ref.namespace}/${ref.name}`;
}

function env(job: LLMTrainingJob, ref: JobRef, attempt: number, worker: number, workers: number, defaults: ChildDefaults): V1EnvVar[] {
  const local = Math.max(job.spec.resources.gpusPerWorker, 1);
  const value = (name: string, v: string | number): V1EnvVar => ({ name, value: String(v) });
  const out: V1EnvVar[] = [
    value(POD_ENV.jobName, ref.name),
    value(POD_ENV.jobNamespace, ref.namespace),
    value(POD_ENV.jobUid, ref.uid),
    value(POD_ENV.attempt, attempt),
    value(POD_ENV.workerIndex, worker),
    value(POD_ENV.workers, workers),
    value(POD_ENV.localWorldSize, local),
    value(POD_ENV.worldSize, workers * local),
    value(POD_ENV.rankBase, worker * local),
    value(POD_ENV.masterAddr, `${podName(ref.name, attempt, 0)}.${serviceName(ref.name)}.${ref.namespace}.svc`),
    value(POD_ENV.masterPort, MASTER_PORT),
    value(POD_ENV.checkpointUri, checkpointUri(job, ref, defaults)),
    value(POD_ENV.spec, JSON.stringify(job.spec)),
    { name: POD_ENV.podName, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: POD_ENV.podIp, valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
  ];
  const redis = job.spec.redis;
  if (redis?.secretRef) out.push({ name: POD_ENV.redisUrl, valueFrom: { secretKeyRef: { name: redis.secretRef.name, key: redis.secretRef.key } } });
  else if (redis?.url ?? defaults.redisUrl) out.push(value(POD_ENV.redisUrl, redis?.url ?? defaults.redisUrl ?? ""));
  const s3 = job.spec.data.s3;
  const endpoint = s3.endpoint ?? defaults.s3Endpoint;
  if (endpoint) out.push(value(POD_ENV.s3Endpoint, endpoint));
  out.push(value(POD_ENV.s3Region, s3.region), value(POD_ENV.s3ForcePathStyle, String(s3.forcePathStyle)));
  const creds = s3.credentialsSecret;
  if (creds) {
    out.push(
      { name: POD_ENV.s3AccessKeyId, valueFrom: { secretKeyRef: { name: creds.name, key: creds.accessKeyIdKey } } },
      { name: POD_ENV.s3SecretAccessKey, valueFrom: { secretKeyRef: { name: creds.name, key: creds.secretAccessKeyKey } } },
    );
    if (creds.sessionTokenKey) out.push({ name: POD_ENV.s3SessionToken, valueFrom: { secretKeyRef: { name: creds.name, key: creds.sessionTokenKey } } });
  }
  return out;
}

export function workerPod(job: LLMTrainingJob, ref: JobRef, attempt: number, worker: number, workers: number, defaults: ChildDefaults): V1Pod {
  const { resources, scheduling } = job.spec;
  const limits: Record<string, string> = { cpu: resources.cpu, memory: resources.memory };
  if (resources.gpusPerWorker > 0) limits[resources.gpuResourceName] = String(resources.gpusPerWorker);
  const requests: Record<string, string> = { ...limits };
  if (resources.ephemeralStorage) requests["ephemeral-storage"] = resources.ephemeralStorage;
  const name = podName(ref.name, attempt, worker);
  const pod: V1Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: ref.namespace,
      labels: { ...baseLabels(ref), [LABELS.attempt]: String(attempt), [LABELS.worker]: String(worker) },
      annotations: {
        // Keep autoscalers from moving a running gang: a move costs a whole-gang restart.
        "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
        "karpenter.sh/do-not-disrupt": "true",
      },
      ownerReferences: [ownerReference(ref)],
    },
    spec: {
      restartPolicy: "Never",
      hostname: name,
      subdomain: serviceName(ref.name),
      terminationGracePeriodSeconds: scheduling.terminationGracePeriodSeconds,
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "trainer",
          image: job.spec.image ?? defaults.trainerImage,
          imagePullPolicy: job.spec.imagePullPolicy,
          ...(defaults.trainerCommand ? { command: defaults.trainerCommand } : {}),
          env: env(job, ref, attempt, worker, workers, defaults),
          ports: [{ name: "collective", containerPort: MASTER_PORT }],
          resources: { limits, requests },
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
          volumeMounts: [
            { name: "shm", mountPath: "/dev/shm" },
            { name: "scratch", mountPath: "/tmp" },
          ],
        },
      ],
      volumes: [
        { name: "shm", emptyDir: { medium: "Memory", sizeLimit: resources.sharedMemory } },
        { name: "scratch", emptyDir: {} },
      ],
    },
  };
  const spec = pod.spec;
  if (spec) {
    if (scheduling.nodeSelector) spec.nodeSelector = scheduling.nodeSelector;
    if (scheduling.tolerations) {
      spec.tolerations = scheduling.tolerations.map((t) => Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as V1Toleration);
    }
    if (scheduling.affinity) spec.affinity = scheduling.affinity;
    if (scheduling.priorityClassName) spec.priorityClassName = scheduling.priorityClassName;
    if (scheduling.schedulerName) spec.schedulerName = scheduling.schedulerName;
    if (job.spec.imagePullSecrets) spec.imagePullSecrets = job.spec.imagePullSecrets.map((n) => ({ name: n }));
  }
  return pod;
}

export function headlessService(ref: JobRef): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: serviceName(ref.name), namespace: ref.namespace, labels: baseLabels(ref), ownerReferences: [ownerReference(ref)] },
    spec: {
      clusterIP: "None",
      // Workers must find each other before they are Ready: the rendezvous is what makes them ready.
      publishNotReadyAddresses: true,
      selector: { [LABELS.jobUid]: ref.uid },
      ports: [{ name: "collective", port: MASTER_PORT, targetPort: MASTER_PORT }],
    },
  };
}

export function gangPdb(ref: JobRef, minAvailable: number): V1PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: pdbName(ref.name), namespace: ref.namespace, labels: baseLabels(ref), ownerReferences: [ownerReference(ref)] },
    spec: { minAvailable, selector: { matchLabels: { [LABELS.jobUid]: ref.uid } } },
  };
}
