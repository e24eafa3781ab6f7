// The Helm chart's values as one zod schema: values.schema.json, values.yaml (with these descriptions as comments) and
// the values table in docs/operations.md are generated from it by `make crds`. The operator's settings take their
// defaults and limits from the operator's own schema (operator/src/config.ts), so the two cannot drift apart.
import { z } from "zod";
import { OperatorConfig } from "../operator/src/config.js";

const operatorDefaults = OperatorConfig.parse({});
const concurrency = OperatorConfig.shape.concurrency.unwrap();

// Patterns are RE2-compatible (Helm validates with a Go JSON Schema library): no look-ahead.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// A URL without user info: credentials belong in Secrets (jobs reference them), never in a Deployment's env.
const REDIS_URL = /^(rediss?:\/\/[^/@\s]+(\/\S*)?)?$/;
const HTTP_URL = /^(https?:\/\/[^/@\s]+(\/\S*)?)?$/;

const stringMap = z.record(z.string(), z.string());
// Kubernetes objects passed through verbatim (affinity, tolerations, peers): the API server validates them.
const k8sObject = z.record(z.string(), z.unknown());
const quantity = z.union([z.string().min(1), z.number()]);
const port = z.number().int().min(1).max(65535);

const NetworkPeers = z
  .array(k8sObject)
  .default([])
  .describe("NetworkPolicyPeers (ipBlock, namespaceSelector, podSelector) allowed; empty allows any destination on these ports.");

const EgressTarget = (ports: number[], what: string) =>
  z
    .object({
      ports: z.array(port).min(1).default(ports).describe(`TCP ports of ${what}.`),
      to: NetworkPeers,
    })
    .strict()
    .prefault({});

export const ChartValues = z
  .object({
    nameOverride: z.string().default("").describe("Replaces the chart name in resource names."),
    fullnameOverride: z.string().default("").describe("Replaces <release>-<chart> in resource names."),
    replicaCount: z.number().int().min(1).max(5).default(2).describe("Operator replicas; one leads through the Lease gantry-operator, the others stand by."),
    image: z
      .object({
        repository: z.string().min(1).default("ghcr.io/gantry-dev/operator").describe("Operator image (operator/Dockerfile)."),
        tag: z.string().default("").describe("Image tag; empty means the chart's appVersion."),
        digest: z
          .string()
          .regex(/^(sha256:[a-f0-9]{64})?$/)
          .default("")
          .describe("Image digest (sha256:...); when set it pins the image and the tag is informational."),
        pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent").describe("Image pull policy."),
      })
      .strict()
      .prefault({}),
    imagePullSecrets: z.array(z.object({ name: z.string().min(1) }).strict()).default([]).describe("Pull secrets of the operator pods."),
    trainer: z
      .object({
        image: z.string().min(1).default(operatorDefaults.trainerImage).describe("GANTRY_TRAINER_IMAGE: image of jobs that name none (trainer/Dockerfile; the cuda target for GPUs)."),
        command: z.array(z.string().min(1)).default([]).describe("GANTRY_TRAINER_COMMAND: worker container command; empty uses the image's entrypoint."),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: z.string().regex(REDIS_URL, "a redis:// or rediss:// URL without credentials").default("").describe("GANTRY_REDIS_URL: Redis of jobs that name none (no credentials: jobs use spec.redis.secretRef)."),
      })
      .strict()
      .prefault({}),
    s3: z
      .object({
        endpoint: z.string().regex(HTTP_URL, "an http:// or https:// URL without credentials").default("").describe("GANTRY_S3_ENDPOINT: S3 endpoint of jobs that name none; keys come from spec.data.s3.credentialsSecret."),
      })
      .strict()
      .prefault({}),
    checkpointBase: z.string().min(1).default(operatorDefaults.checkpointBase).describe("GANTRY_CHECKPOINT_BASE: jobs without spec.checkpointing.uri checkpoint under <base>/<namespace>/<name>; use s3://bucket/prefix in production."),
    watchNamespaces: z
      .array(z.string().regex(DNS_LABEL).max(63))
      .default(operatorDefaults.watchNamespaces)
      .describe("GANTRY_WATCH_NAMESPACES: namespaces to watch; empty watches all. Exactly one grants RBAC in that namespace only."),
    concurrency: z
      .number()
      .int()
      .min(concurrency.minValue ?? 1)
      .max(concurrency.maxValue ?? 64)
      .default(operatorDefaults.concurrency)
      .describe("GANTRY_CONCURRENCY: jobs reconciled at once."),
    logLevel: z.enum(OperatorConfig.shape.logLevel.unwrap().options).default(operatorDefaults.logLevel).describe("GANTRY_LOG_LEVEL."),
    leaderElection: z
      .object({
        enabled: z.boolean().default(operatorDefaults.leaderElection).describe("GANTRY_LEADER_ELECTION: reconcile only while holding the Lease; required when replicaCount > 1."),
      })
      .strict()
      .prefault({}),
    httpPort: port.default(operatorDefaults.httpPort).describe("GANTRY_HTTP_PORT: container port of /healthz, /readyz and /metrics."),
    extraEnv: z.array(k8sObject).default([]).describe("Extra EnvVars of the operator container."),
    resources: z
      .object({
        requests: z.record(z.string(), quantity).default({ cpu: "100m", memory: "256Mi" }).describe("Operator container requests."),
        limits: z.record(z.string(), quantity).default({ memory: "512Mi" }).describe("Operator container limits; memory grows with the jobs and pods cached (make bench-operator)."),
      })
      .strict()
      .prefault({}),
    podAnnotations: stringMap.default({}).describe("Annotations of the operator pods."),
    podLabels: stringMap.default({}).describe("Extra labels of the operator pods."),
    priorityClassName: z.string().default("").describe("PriorityClass of the operator pods; system-cluster-critical keeps it above workloads."),
    nodeSelector: stringMap.default({}).describe("Node selector of the operator pods."),
    tolerations: z.array(k8sObject).default([]).describe("Tolerations of the operator pods."),
    affinity: k8sObject.default({}).describe("Affinity of the operator pods; empty spreads replicas over nodes (preferred anti-affinity)."),
    serviceAccount: z
      .object({
        create: z.boolean().default(true).describe("Create the operator's ServiceAccount."),
        name: z.string().default("").describe("ServiceAccount name; empty means the release's full name."),
        annotations: stringMap.default({}).describe("ServiceAccount annotations."),
      })
      .strict()
      .prefault({}),
    rbac: z
      .object({
        create: z.boolean().default(true).describe("Create the ClusterRoles, Role and bindings (rules from operator/deploy/rbac.yaml)."),
      })
      .strict()
      .prefault({}),
    podDisruptionBudget: z
      .object({
        enabled: z.boolean().default(true).describe("A PodDisruptionBudget with maxUnavailable 1, so a drain never takes every replica."),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        service: z
          .object({
            enabled: z.boolean().default(true).describe("A ClusterIP Service exposing /metrics."),
            port: port.default(8080).describe("Service port named metrics."),
          })
          .strict()
          .prefault({}),
        serviceMonitor: z
          .object({
            enabled: z.boolean().default(false).describe("A prometheus-operator ServiceMonitor (needs its CRD)."),
            interval: z.string().regex(/^[0-9]+(ms|s|m|h)$/).default("30s").describe("Scrape interval."),
            scrapeTimeout: z.string().regex(/^[0-9]+(ms|s|m|h)$/).default("10s").describe("Scrape timeout."),
            labels: stringMap.default({}).describe("Labels the Prometheus serviceMonitorSelector matches."),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    networkPolicy: z
      .object({
        enabled: z.boolean().default(false).describe("A NetworkPolicy per namespace that isolates worker pods: ingress only from worker pods, egress only to them, DNS, Redis and S3."),
        namespaces: z.array(z.string().regex(DNS_LABEL).max(63)).default([]).describe("Namespaces that get it; empty means watchNamespaces."),
        dns: z
          .object({
            ports: z.array(port).min(1).default([53]).describe("UDP and TCP ports of cluster DNS."),
            to: z
              .array(k8sObject)
              .default([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }])
              .describe("Where cluster DNS runs."),
          })
          .strict()
          .prefault({}),
        redis: EgressTarget([6379], "Redis"),
        s3: EgressTarget([443], "S3"),
        extraIngress: z.array(k8sObject).default([]).describe("Extra ingress rules of worker pods (for example a metrics scraper)."),
        extraEgress: z.array(k8sObject).default([]).describe("Extra egress rules of worker pods."),
      })
      .strict()
      .prefault({}),
    // Helm adds `global` when the chart is a subchart.
    global: k8sObject.optional().describe("Set by Helm when this chart is a subchart; Gantry reads nothing from it."),
  })
  .strict();

export type ChartValuesInput = z.input<typeof ChartValues>;
export type ChartValues = z.output<typeof ChartValues>;
