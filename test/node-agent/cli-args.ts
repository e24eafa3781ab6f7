// The agent's command line, parsed without side effects.
import type { V1Taint } from "@kubernetes/client-node";
import { isLogLevel, type LogLevel } from "./json-log.js";
import { defaultIpBase, parseIpBase } from "./loopback-ips.js";
import { POOLS, type Pool } from "./node-manifest.js";

export const USAGE = `usage: npx tsx test/node-agent/main.ts --node NAME [options]

The local development runtime: registers the Node NAME and runs the pods bound to it as local processes.

  --node NAME            the Node to register and serve (required)
  --pool POOL            gpu-a100 | gpu-spot | cpu (default gpu-a100): labels, taints and capacity as test/cluster/nodes.sh
  --gpus N               nvidia.com/gpu capacity (default: the pool's)
  --cpu Q, --memory Q    CPU and memory capacity (default: the pool's)
  --label K=V            an extra node label (repeatable)
  --taint K=V:EFFECT     an extra node taint, EFFECT NoSchedule|PreferNoSchedule|NoExecute (repeatable)
  --ip-base 127.A.B.0    pods get 127.A.B.1 … .254 (default: a /24 derived from the node name)
  --host-ip IP           the node's InternalIP and the pods' hostIP (default 127.0.0.1)
  --state-dir DIR        pod logs go to DIR/pods (default $GANTRY_STATE_DIR/cluster, else <repo>/.gantry/cluster)
  --kubeconfig FILE      default $KUBECONFIG, else <repo>/.gantry/kubeconfig
  --heartbeat-seconds S  Lease renewal and status interval (default 10)
  --delete-node-on-exit  delete the Node when the agent stops
  --log-level LEVEL      debug | info | warn | error (default info)
`;

export interface AgentArgs {
  node: string;
  pool: Pool;
  gpus?: number;
  cpu?: string;
  memory?: string;
  labels: Record<string, string>;
  taints: V1Taint[];
  ipBase: string;
  hostIP: string;
  stateDir?: string;
  kubeconfig?: string;
  heartbeatSeconds: number;
  deleteNodeOnExit: boolean;
  logLevel: LogLevel;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const EFFECTS = new Set(["NoSchedule", "PreferNoSchedule", "NoExecute"]);

function keyValue(flag: string, s: string): [string, string] {
  const eq = s.indexOf("=");
  if (eq <= 0) throw new UsageError(`${flag} ${s}: expected KEY=VALUE`);
  return [s.slice(0, eq), s.slice(eq + 1)];
}

export function parseTaint(s: string): V1Taint {
  const colon = s.lastIndexOf(":");
  const effect = colon > 0 ? s.slice(colon + 1) : "";
  if (!EFFECTS.has(effect)) throw new UsageError(`--taint ${s}: expected KEY=VALUE:EFFECT with EFFECT one of ${[...EFFECTS].join(", ")}`);
  const body = s.slice(0, colon);
  const eq = body.indexOf("=");
  const key = eq < 0 ? body : body.slice(0, eq);
  if (!key) throw new UsageError(`--taint ${s}: the key is empty`);
  return eq < 0 ? { key, effect } : { key, value: body.slice(eq + 1), effect };
}

export function parseArgs(argv: readonly string[]): AgentArgs {
  let node: string | undefined;
  let pool: Pool = "gpu-a100";
  let ipBase: string | undefined;
  const out: Omit<AgentArgs, "node" | "pool" | "ipBase"> = { labels: {}, taints: [], hostIP: "127.0.0.1", heartbeatSeconds: 10, deleteNodeOnExit: false, logLevel: "info" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? "";
    if (flag === "--delete-node-on-exit") {
      out.deleteNodeOnExit = true;
      continue;
    }
    if (flag === "--help" || flag === "-h") throw new UsageError("");
    const value = argv[i + 1];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    i++;
    switch (flag) {
      case "--node":
        if (!DNS_SUBDOMAIN.test(value)) throw new UsageError(`--node ${value}: not a valid node name (a DNS subdomain)`);
        node = value;
        break;
      case "--pool":
        if (!(POOLS as readonly string[]).includes(value)) throw new UsageError(`--pool ${value}: known pools are ${POOLS.join(", ")}`);
        pool = value as Pool;
        break;
      case "--gpus": {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw new UsageError(`--gpus ${value}: expected a whole number`);
        out.gpus = n;
        break;
      }
      case "--cpu":
        out.cpu = value;
        break;
      case "--memory":
        out.memory = value;
        break;
      case "--label": {
        const [k, v] = keyValue(flag, value);
        out.labels[k] = v;
        break;
      }
      case "--taint":
        out.taints.push(parseTaint(value));
        break;
      case "--ip-base":
        try {
          parseIpBase(value);
        } catch (err) {
          throw new UsageError(err instanceof Error ? err.message : String(err));
        }
        ipBase = value;
        break;
      case "--host-ip":
        out.hostIP = value;
        break;
      case "--state-dir":
        out.stateDir = value;
        break;
      case "--kubeconfig":
        out.kubeconfig = value;
        break;
      case "--heartbeat-seconds": {
        const n = Number(value);
        if (!(n > 0)) throw new UsageError(`--heartbeat-seconds ${value}: expected a positive number`);
        out.heartbeatSeconds = n;
        break;
      }
      case "--log-level":
        if (!isLogLevel(value)) throw new UsageError(`--log-level ${value}: expected debug, info, warn or error`);
        out.logLevel = value;
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (!node) throw new UsageError("--node is required");
  return { ...out, node, pool, ipBase: ipBase ?? defaultIpBase(node) };
}
