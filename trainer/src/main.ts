#!/usr/bin/env node
// The worker pod's entry point. It reads the operator's environment contract (crds POD_ENV) and runs this pod's
// ranks: one in this process, or, when the pod has several GPUs (LOCAL_WORLD_SIZE > 1), one child process per GPU.
// It exits with the trainer's documented codes (crds EXIT) and leaves a one-line reason in the termination log.
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { EXIT, POD_ENV } from "@gantry/crds";
import { exitFor } from "./run/exit-code.js";
import { openClients } from "./run/clients.js";
import { runTrainingJob } from "./run/train-job.js";
import { createTrainerLogger } from "./runtime/log.js";
import { fromPodEnv } from "./runtime/run-config.js";
import { StopSignal } from "./runtime/stop-signal.js";

const LOCAL_RANK = "GANTRY_LOCAL_RANK";
const TERMINATION_LOG = process.env["GANTRY_TERMINATION_LOG"] ?? "/dev/termination-log";

function terminationMessage(message: string): void {
  try {
    writeFileSync(TERMINATION_LOG, message.slice(0, 4000));
  } catch {
    // Not in a pod (or a read-only path): the log line carries the message anyway.
  }
}

async function runRank(localRank: number): Promise<number> {
  const stop = new StopSignal();
  // Listening until the process exits (not removed): a SIGTERM must never find the default action armed.
  stop.listen();
  let log = createTrainerLogger({ job: process.env[POD_ENV.jobName] ?? "?", attempt: Number(process.env[POD_ENV.attempt] ?? 0), rank: Number(process.env[POD_ENV.rankBase] ?? 0) + localRank });
  try {
    const cfg = fromPodEnv(process.env, localRank);
    log = log.child({ namespace: cfg.job.namespace, uid: cfg.job.uid });
    const clients = openClients(cfg);
    try {
      const outcome = await runTrainingJob(cfg, { log, stop, ...(clients.redis ? { redis: clients.redis } : {}), ...(clients.s3 ? { s3: clients.s3 } : {}) });
      log.info(outcome.kind === "finished" ? "finished" : "preempted: checkpointed and stopping", { step: outcome.step, checkpoint: outcome.checkpoint?.uri });
      return outcome.kind === "finished" ? EXIT.success : EXIT.preempted;
    } finally {
      await clients.close();
    }
  } catch (err) {
    const { code, message } = exitFor(err);
    log.error("exiting", { exitCode: code, error: message, ...(err instanceof Error && err.stack ? { stack: err.stack } : {}) });
    terminationMessage(message);
    return code;
  }
}

/** Several GPUs in one pod: a child per local rank, each seeing one GPU. The pod's exit is the most serious child's. */
function runLocalRanks(local: number): Promise<number> {
  const children = Array.from({ length: local }, (_, i) =>
    fork(process.argv[1] ?? "", process.argv.slice(2), { env: { ...process.env, [LOCAL_RANK]: String(i), CUDA_VISIBLE_DEVICES: String(i) }, stdio: "inherit" }),
  );
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => children.forEach((c) => c.kill(signal)));
  return Promise.all(children.map((c) => new Promise<number>((resolve) => c.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)))))).then((codes) => {
    const rank = (c: number) => (c === EXIT.badConfig || c === EXIT.badData ? 3 : c === EXIT.success ? 0 : c === EXIT.preempted ? 1 : 2);
    return codes.reduce((worst, c) => (rank(c) > rank(worst) ? c : worst), EXIT.success);
  });
}

const local = Number(process.env[POD_ENV.localWorldSize] ?? 1);
const localRank = process.env[LOCAL_RANK];
const code = localRank === undefined && local > 1 ? await runLocalRanks(local) : await runRank(Number(localRank ?? 0));
// The code is chosen and the clients are closed: exit with it once the log lines are out (one turn of the loop; the
// stop listener still catches a SIGTERM meanwhile). Letting the loop drain instead would leave a teardown in which
// the operator's SIGTERM to a failed gang finds no handler, and the pod ends with 143 instead.
await new Promise((resolve) => setImmediate(resolve));
process.exit(code);
