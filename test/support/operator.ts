// Runs the operator's controller in the test process, watching only the test's namespace.
import { Controller } from "../../operator/src/controller/controller.js";
import { OperatorConfig } from "../../operator/src/config.js";
import { createLogger } from "../../operator/src/log.js";
import { pooledFromFile } from "../../operator/src/kube-config.js";
import { OperatorMetrics } from "../../operator/src/metrics.js";
import type { PlanConfig } from "../../operator/src/core/plan.js";
import { DEFAULT_PLAN_CONFIG } from "../../operator/src/core/plan.js";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ClusterEnv } from "./cluster-env.js";
import { CoreV1Api } from "@kubernetes/client-node";
import { ensureCrd, freshNamespace, type TestNamespace } from "./kube.js";
import { PrivatePool } from "./private-pool.js";
import { waitFor } from "./wait.js";

/**
 * The plan for stories on agent-run nodes (real trainer pods), short enough for a test: pods left on a reclaimed node
 * are force-deleted after 5 s, a silent node is lost after 10 s, and gangs retry within seconds.
 */
export const AGENT_NODE_PLAN: Partial<PlanConfig> = { forceDeleteSeconds: 5, nodeLostSeconds: 10, backoff: { failureBaseSeconds: 1, failureMaxSeconds: 2, gangRetrySeconds: 2 } };

export async function startOperator(_kc: KubeConfig, env: ClusterEnv, namespace: string, plan: Partial<PlanConfig> = {}): Promise<Controller> {
  // The operator's own connection pooling, as in production.
  const kc = pooledFromFile(env.KUBECONFIG);
  const config = OperatorConfig.parse({
    watchNamespaces: namespace,
    redisUrl: env.REDIS_URL,
    s3Endpoint: env.S3_ENDPOINT,
    checkpointBase: `s3://${env.S3_BUCKET}/checkpoints`,
    trainerImage: "gantry/trainer:test",
    logLevel: process.env["GANTRY_TEST_LOG"] ? "debug" : "error",
  });
  const controller = new Controller({
    kc,
    config,
    log: createLogger(config.logLevel),
    metrics: new OperatorMetrics(),
    plan: { ...DEFAULT_PLAN_CONFIG, ...plan },
    progressIntervalMs: 500,
  });
  controller.start();
  await waitFor("the operator's caches to sync", () => controller.synced(), (s) => s, { timeoutMs: 30_000 });
  return controller;
}

/** A test file's own world: the CRD, a fresh namespace, a private pool of GPU nodes and an operator watching it. */
export interface OperatorTestbed {
  ns: TestNamespace;
  pool: PrivatePool;
  operator: Controller;
  /** Stops the operator, removes the pool's nodes and deletes the namespace. */
  close(): Promise<void>;
}

export async function operatorTestbed(kc: KubeConfig, env: ClusterEnv, prefix: string, plan: Partial<PlanConfig> = {}): Promise<OperatorTestbed> {
  await ensureCrd(env);
  const ns = await freshNamespace(kc, prefix);
  const pool = new PrivatePool(kc, ns.name);
  const core = kc.makeApiClient(CoreV1Api);
  await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true);
  const operator = await startOperator(kc, env, ns.name, plan);
  return {
    ns,
    pool,
    operator,
    close: async () => {
      await operator.stop();
      await pool.clear();
      await ns.delete();
    },
  };
}
