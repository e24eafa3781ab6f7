#!/usr/bin/env node
// gantry-train: runs a job manifest on this machine, one rank, with no Kubernetes, Redis or S3 needed. Checkpoints,
// the loss history and its plot go to a local folder; rerunning the same command resumes from the newest checkpoint.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import { EXIT } from "@gantry/crds";
import type { BackendName } from "../backend/select-backend.js";
import { mergeCheckpoint } from "../peft/merge-checkpoint.js";
import { exitFor } from "../run/exit-code.js";
import { openClients } from "../run/clients.js";
import { CODE_VERSION, LOSS_PLOT, runTrainingJob } from "../run/train-job.js";
import { createTrainerLogger } from "../runtime/log.js";
import { fromManifest } from "../runtime/run-config.js";
import { StopSignal } from "../runtime/stop-signal.js";
import { asUri, runCommand, s3ClientFromEnv, usageExit } from "./command-shell.js";

const USAGE = `usage: gantry-train --config job.yaml [--out DIR] [--steps N] [--backend wasm|cpu|tfjs-node|tfjs-node-gpu] [--quiet]
  Trains the job on this machine. Checkpoints go to spec.checkpointing.uri, else DIR/checkpoints
  (DIR defaults to ./gantry-runs/<job name>); rerunning resumes from the newest checkpoint. Ctrl-C checkpoints and stops.
       gantry-train merge --checkpoint URI --out DIR [--hf-out DIR]
  Folds a LoRA checkpoint's adapters into its base model (spec.model.pretrained, verified by hash) and writes a plain
  checkpoint that gantry-generate reads; --hf-out also writes a Hugging Face GPT-2 model.safetensors + config.json.`;

async function merge(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { checkpoint: { type: "string" }, out: { type: "string" }, "hf-out": { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help || values.checkpoint === undefined || values.out === undefined) return usageExit(USAGE, values.help);
  const [checkpoint, out] = [asUri(values.checkpoint), asUri(values.out)];
  const hfOut = values["hf-out"] === undefined ? undefined : asUri(values["hf-out"]);
  return runCommand("gantry-train merge", async () => {
    const s3 = s3ClientFromEnv([checkpoint, out, ...(hfOut === undefined ? [] : [hfOut])], "gantry-train merge");
    const r = await mergeCheckpoint({ checkpoint, out, ...(hfOut === undefined ? {} : { hfOut }), ...(s3 === undefined ? {} : { s3 }), codeVersion: CODE_VERSION });
    console.log(`merged ${r.source} (${r.adapterParameters.toLocaleString("en-US")} adapter parameters) into ${r.parameters.toLocaleString("en-US")} parameters`);
    console.log(`checkpoint: ${r.written.uri}`);
    if (r.hfOut !== undefined) console.log(`hugging face: ${r.hfOut}`);
    return EXIT.success;
  }, exitFor);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { config: { type: "string", short: "c" }, out: { type: "string" }, steps: { type: "string" }, backend: { type: "string" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help || values.config === undefined) return usageExit(USAGE, values.help);
  const quiet = values.quiet ?? !process.stderr.isTTY;
  const log = createTrainerLogger({ job: "local", attempt: 0, rank: 0 }, process.env["GANTRY_LOG_LEVEL"] ?? (quiet ? "info" : "warn"));
  const stop = new StopSignal();
  const unlisten = stop.listen();
  try {
    const steps = values.steps === undefined ? undefined : Number(values.steps);
    const cfg = fromManifest(readFileSync(values.config, "utf8"), values.config, { ...(values.out ? { outDir: values.out } : {}), ...(steps === undefined ? {} : { steps }), env: process.env });
    const clients = openClients(cfg);
    const bar = quiet ? undefined : new cliProgress.SingleBar({ format: " {bar} step {value}/{total} | loss {loss} | {tps} tok/s | eta {eta_formatted}", hideCursor: true }, cliProgress.Presets.shades_classic);
    try {
      const outcome = await runTrainingJob(cfg, {
        log: log.child({ job: cfg.job.name }),
        stop,
        ...(clients.redis ? { redis: clients.redis } : {}),
        ...(clients.s3 ? { s3: clients.s3 } : {}),
        ...(values.backend ? { backendOrder: [values.backend as BackendName] } : {}),
        onStep: (r) => {
          if (bar === undefined) return;
          if (bar.getTotal() !== r.totalSteps) bar.start(r.totalSteps, r.step - 1, { loss: "-", tps: "-" });
          bar.update(r.step, { loss: r.loss.toFixed(4), tps: Math.round(r.tokensPerSecond) });
        },
      });
      bar?.stop();
      const first = outcome.losses[0];
      const last = outcome.losses.at(-1);
      const where = cfg.checkpointUri.startsWith("file://") ? fileURLToPath(cfg.checkpointUri) : cfg.checkpointUri;
      console.log(`${outcome.kind === "finished" ? "finished" : "stopped"} at step ${outcome.step} on ${outcome.backend}; loss ${first?.loss.toFixed(4) ?? "?"} (step ${first?.step ?? "?"}) -> ${last?.loss.toFixed(4) ?? "?"} (step ${last?.step ?? "?"})`);
      if (outcome.checkpoint) console.log(`checkpoint: ${outcome.checkpoint.uri}`);
      console.log(`loss plot:  ${where}/${LOSS_PLOT}`);
      return outcome.kind === "finished" ? EXIT.success : EXIT.preempted;
    } finally {
      bar?.stop();
      await clients.close();
    }
  } catch (err) {
    const { code, message } = exitFor(err);
    console.error(`gantry-train: ${message}`);
    return code;
  } finally {
    unlisten();
  }
}

process.exitCode = process.argv[2] === "merge" ? await merge(process.argv.slice(3)) : await main();
