// What every end-to-end story needs: a namespace with S3 credentials in a Secret, a token dataset on the real S3
// server, worker nodes run by the local node agent (real trainer processes), and helpers to read what the jobs wrote.
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { openStore, prepareDataset, tokenizerFor } from "@gantry/dataloader";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterEnv } from "../../support/cluster-env.js";
import { freshNamespace, type TestNamespace } from "../../support/kube.js";
import { startNodeAgent, type NodeAgentProcess } from "../../support/node-agent.js";
import { readS3Object, s3Client } from "../../support/services.js";
import { writeCorpus } from "../../support/corpus.js";
import { TestJobs } from "../../support/jobs.js";
import { waitFor } from "../../support/wait.js";

export class Story {
  readonly jobs: TestJobs;
  readonly s3;
  private readonly agents: NodeAgentProcess[] = [];
  private readonly core: CoreV1Api;

  private constructor(
    readonly env: ClusterEnv,
    readonly kc: KubeConfig,
    readonly ns: TestNamespace,
    /** s3:// URI of this story's token dataset. */
    readonly dataUri: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.s3 = s3Client(env);
    this.jobs = new TestJobs(kc, ns.name, {});
  }

  static async open(env: ClusterEnv, kc: KubeConfig, prefix: string): Promise<Story> {
    const ns = await freshNamespace(kc, prefix);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true);
    // The job reads its S3 credentials from this Secret only (spec.data.s3.credentialsSecret).
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: "s3" }, stringData: { AWS_ACCESS_KEY_ID: env.S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: env.S3_SECRET_KEY } } });
    const dir = mkdtempSync(join(tmpdir(), "gantry-e2e-"));
    try {
      const files = writeCorpus(dir, 150);
      const dataUri = `s3://${env.S3_BUCKET}/e2e/${ns.name}/data`;
      await prepareDataset(openStore(dataUri, { client: s3Client(env) }), { files, format: "text", textField: "text", tokenizer: tokenizerFor("bytes"), shardBytes: 8192 });
      return new Story(env, kc, ns, dataUri);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** A node of this story's private pool (label and NoSchedule taint gantry.dev/test-pool=<ns>), run by the agent. */
  async addNode(name: string, labels: Record<string, string> = {}, gpus = 1): Promise<string> {
    const node = `${this.ns.name}-${name}`;
    // Each agent hands out loopback pod IPs from a /24 derived from its node name.
    const agent = await startNodeAgent(this.env, {
      node,
      pool: "gpu-spot",
      gpus,
      labels: { "gantry.dev/test-pool": this.ns.name, ...labels },
      taints: [`gantry.dev/test-pool=${this.ns.name}:NoSchedule`],
    });
    this.agents.push(agent);
    return node;
  }

  /** The scheduling block that pins a job to this story's pool. */
  scheduling(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      nodeSelector: { "gantry.dev/test-pool": this.ns.name },
      tolerations: [
        { key: "gantry.dev/test-pool", operator: "Equal", value: this.ns.name, effect: "NoSchedule" },
        { key: "gantry.dev/spot", operator: "Equal", value: "true", effect: "NoSchedule" },
      ],
      gangTimeoutSeconds: 20,
      terminationGracePeriodSeconds: 30,
      ...extra,
    };
  }

  /** A small but real training job: 2-layer decoder, bytes tokenizer, checkpoints every 4 steps. */
  spec(over: { workers?: number; steps?: number; source?: string; elastic?: Record<string, unknown>; scheduling?: Record<string, unknown>; checkpointEvery?: number } = {}): Record<string, unknown> {
    return {
      workers: over.workers ?? 2,
      ...(over.elastic ? { elastic: over.elastic } : {}),
      model: { preset: "tiny", layers: 1, dModel: 32, heads: 2, contextLength: 32, dropout: 0.1 },
      data: { source: over.source ?? this.dataUri, format: "tokens", tokenizer: "bytes", s3: { credentialsSecret: { name: "s3" } } },
      training: { steps: over.steps ?? 40, globalBatchSize: 4, microBatchSize: 1, logEverySteps: 5, seed: 3, optimizer: { lr: 0.01 }, schedule: { warmupSteps: 4 } },
      checkpointing: { everySteps: over.checkpointEvery ?? 4, keepLast: 100 },
      resources: { gpusPerWorker: 1, cpu: "1", memory: "1Gi" },
      scheduling: this.scheduling(over.scheduling),
    };
  }

  /** The checkpoint root the operator gives a job (startOperator's checkpointBase). */
  checkpointPrefix(job: string): string {
    return `checkpoints/${this.ns.name}/${job}/`;
  }

  readObject(key: string): Promise<Buffer | undefined> {
    return readS3Object(this.s3, this.env.S3_BUCKET, key);
  }

  async manifest(job: string, step: number): Promise<CheckpointManifestView | undefined> {
    const bytes = await this.readObject(`${this.checkpointPrefix(job)}step-${String(step).padStart(8, "0")}/manifest.json`);
    return bytes === undefined ? undefined : (JSON.parse(bytes.toString("utf8")) as CheckpointManifestView);
  }

  async losses(job: string): Promise<{ train: { step: number; loss: number }[] }> {
    const bytes = await this.readObject(`${this.checkpointPrefix(job)}losses.json`);
    return bytes === undefined ? { train: [] } : (JSON.parse(bytes.toString("utf8")) as { train: { step: number; loss: number }[] });
  }

  async close(): Promise<void> {
    for (const a of this.agents) await a.stop().catch(() => undefined);
    for (const a of this.agents) await this.core.deleteNode({ name: a.node }).catch(() => undefined);
    await this.ns.delete();
  }
}

export interface CheckpointManifestView {
  step: number;
  worldSize: number;
  files: Record<string, { sha256: string }>;
  dataState: { consumedSamples: number; worldSize: number; attempt: number };
}
