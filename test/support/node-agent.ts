// Runs the local node agent (test/node-agent) as a child process for a test, and finds the files it keeps per pod.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ClusterEnv } from "./cluster-env.js";
import { REPO_ROOT, stateDir } from "./cluster-env.js";

const MAIN = join(REPO_ROOT, "test", "node-agent", "main.ts");
const TSX = join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs");

export interface NodeAgentOptions {
  node: string;
  pool?: "gpu-a100" | "gpu-spot" | "cpu";
  gpus?: number;
  ipBase?: string;
  /** KEY=VALUE:EFFECT */
  taints?: string[];
  labels?: Record<string, string>;
  heartbeatSeconds?: number;
  /** Extra variables for the agent's own environment (containers do not inherit them). */
  env?: Record<string, string>;
}

export class NodeAgentStartError extends Error {
  constructor(
    readonly node: string,
    readonly output: string,
  ) {
    super(`node agent for ${node} did not become ready; its output:\n${output.slice(-4000)}`);
    this.name = "NodeAgentStartError";
  }
}

export interface NodeAgentProcess {
  node: string;
  /** Where its output is kept: <state>/cluster/logs/node-agent-<node>.log. */
  logFile: string;
  child: ChildProcess;
  /** Everything the agent printed so far (JSON lines). */
  output(): string;
  /** Sends the signal and resolves with the exit code (null when a signal ended it). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `test/node-agent/main.ts` for one node and resolves once it has registered the Node and listed its pods. */
export async function startNodeAgent(env: ClusterEnv, o: NodeAgentOptions): Promise<NodeAgentProcess> {
  const args = [`--import`, TSX, MAIN, "--node", o.node, "--pool", o.pool ?? "gpu-a100", "--log-level", "debug"];
  if (o.gpus !== undefined) args.push("--gpus", String(o.gpus));
  if (o.ipBase) args.push("--ip-base", o.ipBase);
  if (o.heartbeatSeconds !== undefined) args.push("--heartbeat-seconds", String(o.heartbeatSeconds));
  for (const t of o.taints ?? []) args.push("--taint", t);
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push("--label", `${k}=${v}`);
  const child = spawn(process.execPath, args, { env: { ...process.env, ...o.env, KUBECONFIG: env.KUBECONFIG }, stdio: ["ignore", "pipe", "pipe"] });
  // Kept beside the cluster's own logs, for a failing test to be read afterwards.
  const logDir = join(stateDir(), "cluster", "logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `node-agent-${o.node}.log`);
  let out = "";
  const take = (d: Buffer) => {
    out += d.toString();
    appendFileSync(logFile, d);
  };
  child.stdout.on("data", take);
  child.stderr.on("data", take);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new NodeAgentStartError(o.node, out)), 30_000);
    const check = () => {
      if (out.includes('"message":"node agent ready"')) {
        clearTimeout(timer);
        child.stdout.off("data", check);
        resolve();
      }
    };
    child.stdout.on("data", check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new NodeAgentStartError(o.node, out));
    });
  });
  return {
    node: o.node,
    logFile,
    child,
    output: () => out,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

/** The folder where the agent keeps a pod's logs, termination messages and pid files (pod-files.ts). */
export function agentPodDir(namespace: string, pod: string, uid: string): string {
  return join(stateDir(), "cluster", "pods", `${namespace}_${pod}_${uid}`);
}

/** A container's log (stdout and stderr), or "" before it exists. `kubectl logs` cannot reach the agent. */
export function agentContainerLog(namespace: string, pod: string, uid: string, container: string): string {
  const file = join(agentPodDir(namespace, pod, uid), `${container}.log`);
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** The files the agent keeps for a pod, by name. */
export function agentPodFiles(namespace: string, pod: string, uid: string): string[] {
  const dir = agentPodDir(namespace, pod, uid);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
