// gantry-operator: the process the Deployment runs, and `make operator` runs locally.
import { hostname } from "node:os";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { ConfigError, configFromEnv } from "../config.js";
import { Controller } from "../controller/controller.js";
import { LeaderElector } from "../controller/leader.js";
import { PooledKubeConfig } from "../kube-config.js";
import { startHttp } from "../http.js";
import { createLogger } from "../log.js";
import { OperatorMetrics } from "../metrics.js";

async function installCrd(kc: KubeConfig, file: string): Promise<void> {
  const crd = parseYaml(readFileSync(file, "utf8")) as KubernetesObject;
  await KubernetesObjectApi.makeApiClient(kc).patch(crd, undefined, undefined, "gantry-operator", true, PatchStrategy.ServerSideApply);
}

async function main(): Promise<void> {
  const config = configFromEnv();
  const log = createLogger(config.logLevel);
  const kc = new PooledKubeConfig();
  kc.loadFromDefault();
  const crdFile = process.env["GANTRY_INSTALL_CRD"];
  if (crdFile) {
    await installCrd(kc, crdFile === "true" ? join(import.meta.dirname, "..", "..", "..", "crds", "llmtrainingjob.yaml") : crdFile);
    log.info("CRD installed", { file: crdFile });
  }
  const metrics = new OperatorMetrics();
  const controller = new Controller({ kc, config, log, metrics });
  const identity = config.identity ?? hostname();
  const elector = config.leaderElection
    ? new LeaderElector({ kc, namespace: config.leaseNamespace, name: "gantry-operator", identity, leaseSeconds: 15, renewSeconds: 5, log })
    : undefined;
  const server = startHttp(config.httpPort, () => controller.synced() || (elector !== undefined && !elector.isLeader()), metrics.registry);
  const phases = setInterval(() => {
    metrics.jobsByPhase.reset();
    for (const [phase, n] of Object.entries(controller.phases())) metrics.jobsByPhase.set({ phase }, n);
  }, 5000);
  phases.unref();
  const shutdown = async (code: number) => {
    elector?.stop();
    await controller.stop();
    await elector?.release();
    server.close();
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown(0));
  process.on("SIGINT", () => void shutdown(0));
  if (elector) {
    // Losing the lease exits: a fresh process relists everything, which is simpler than resetting state.
    elector.run(() => controller.start(), () => void shutdown(1));
  } else {
    controller.start();
  }
  log.info("operator started", { identity, watchNamespaces: config.watchNamespaces, leaderElection: config.leaderElection, port: config.httpPort });
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(JSON.stringify({ level: "error", message: `gantry-operator failed to start: ${message}` }));
  process.exit(1);
});
