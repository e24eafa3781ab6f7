// The node agent's command line: `npx tsx test/node-agent/main.ts --node NAME [options]` (see USAGE, README.md).
// Runs until SIGTERM or SIGINT, then stops its pods' processes and exits 0; exits 3 when its Node is deleted.
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { NodeAgent } from "./agent.js";
import { USAGE, UsageError, parseArgs } from "./cli-args.js";
import { jsonLog } from "./json-log.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");

function main(): void {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) console.error(`node-agent: ${err.message}\n`);
    process.stderr.write(USAGE);
    process.exit(err.message ? 2 : 0);
  }
  const log = jsonLog(args.logLevel, { component: "gantry-node-agent", node: args.node });
  const stateRoot = process.env["GANTRY_STATE_DIR"] ?? join(REPO_ROOT, ".gantry");
  const kc = new KubeConfig();
  kc.loadFromFile(args.kubeconfig ?? process.env["KUBECONFIG"] ?? join(stateRoot, "kubeconfig"));
  const agent = new NodeAgent({
    kc,
    node: {
      name: args.node,
      pool: args.pool,
      hostIP: args.hostIP,
      labels: args.labels,
      taints: args.taints,
      ...(args.gpus !== undefined ? { gpus: args.gpus } : {}),
      ...(args.cpu !== undefined ? { cpu: args.cpu } : {}),
      ...(args.memory !== undefined ? { memory: args.memory } : {}),
    },
    ipBase: args.ipBase,
    stateDir: args.stateDir ?? join(stateRoot, "cluster"),
    repoRoot: REPO_ROOT,
    log,
    heartbeatMs: args.heartbeatSeconds * 1000,
  });
  let signalled = false;
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      if (signalled) return;
      signalled = true;
      log.info("stopping", { signal: sig });
      void agent.stop({ deleteNode: args.deleteNodeOnExit });
    });
  }
  agent.closed.then(
    (why) => process.exit(why === "node-deleted" ? 3 : 0),
    () => process.exit(1),
  );
  agent.start().catch((err: unknown) => {
    log.error("node agent failed to start", { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
}

main();
