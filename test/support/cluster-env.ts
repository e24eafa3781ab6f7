// Finds the local cluster that test/cluster/cluster.sh runs, starting it when needed, and reads its .gantry/env.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const REPO_ROOT = join(import.meta.dirname, "..", "..");
export const CLUSTER_SCRIPT = join(REPO_ROOT, "test", "cluster", "cluster.sh");

export interface ClusterEnv {
  KUBECONFIG: string;
  GANTRY_BIN_DIR: string;
  REDIS_URL: string;
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
  S3_BUCKET: string;
}

const KEYS = ["KUBECONFIG", "GANTRY_BIN_DIR", "REDIS_URL", "S3_ENDPOINT", "S3_REGION", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"] as const;

export class ClusterUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClusterUnavailableError";
  }
}

export function stateDir(): string {
  return process.env["GANTRY_STATE_DIR"] ?? join(REPO_ROOT, ".gantry");
}

/** Parses the shell-syntax env file (`export KEY=value` lines) that cluster.sh writes. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
  }
  return out;
}

export function readClusterEnv(): ClusterEnv {
  const file = join(stateDir(), "env");
  if (!existsSync(file)) throw new ClusterUnavailableError(`${file} does not exist: start the cluster with make cluster-up`);
  const vars = parseEnvFile(readFileSync(file, "utf8"));
  const missing = KEYS.filter((k) => !vars[k]);
  if (missing.length > 0) throw new ClusterUnavailableError(`${file} lacks ${missing.join(", ")}: restart with make cluster-down cluster-up`);
  return Object.fromEntries(KEYS.map((k) => [k, vars[k] ?? ""])) as unknown as ClusterEnv;
}

function script(command: "up" | "down" | "status"): { code: number; output: string } {
  const r = spawnSync("bash", [CLUSTER_SCRIPT, command], { encoding: "utf8", env: process.env, timeout: 300_000 });
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

export function clusterRunning(): boolean {
  return script("status").code === 0;
}

/** Brings the cluster up (a no-op for the parts already running) and returns its environment. */
export function clusterUp(): ClusterEnv {
  const r = script("up");
  if (r.code !== 0) throw new ClusterUnavailableError(`cluster.sh up failed:\n${r.output.slice(-4000)}`);
  return readClusterEnv();
}

export function clusterDown(): void {
  const r = script("down");
  if (r.code !== 0) throw new ClusterUnavailableError(`cluster.sh down failed:\n${r.output.slice(-4000)}`);
}
