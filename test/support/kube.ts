// Kubernetes access for tests: a KubeConfig for the local cluster, a fresh namespace per test, and kubectl.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import type { ClusterEnv } from "./cluster-env.js";
import { waitFor } from "./wait.js";

export function kubeConfig(env: ClusterEnv): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG);
  return kc;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl with an argument vector (never a shell), optionally feeding stdin. */
export function kubectl(env: ClusterEnv, args: readonly string[], input?: string): KubectlResult {
  const r = spawnSync(join(env.GANTRY_BIN_DIR, "kubectl"), ["--kubeconfig", env.KUBECONFIG, ...args], {
    encoding: "utf8",
    input,
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export interface TestNamespace {
  name: string;
  /** Deletes the namespace and does not wait for it to go. */
  delete(): Promise<void>;
}

/** A namespace of its own for one test, named t-<prefix>-<random>. */
export async function freshNamespace(kc: KubeConfig, prefix: string): Promise<TestNamespace> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = `t-${prefix}-${randomBytes(3).toString("hex")}`.slice(0, 63);
  await core.createNamespace({ body: { metadata: { name, labels: { "gantry.dev/test": "true" } } } });
  return {
    name,
    delete: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** Installs (or updates) the LLMTrainingJob CRD and waits until it is served. */
export async function ensureCrd(env: ClusterEnv): Promise<void> {
  const file = join(import.meta.dirname, "..", "..", "crds", "llmtrainingjob.yaml");
  const r = kubectl(env, ["apply", "--server-side", "--force-conflicts", "-f", file]);
  if (r.code !== 0) throw new Error(`installing the CRD failed: ${r.stderr}`);
  await waitFor(
    "the LLMTrainingJob CRD to be Established",
    () => kubectl(env, ["get", "crd", "llmtrainingjobs.gantry.dev", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]).stdout,
    (s) => s === "True",
  );
}
