#!/usr/bin/env node
// gantry-factorize: replaces chosen weight matrices of a trained checkpoint with rank-r factors (truncated SVD),
// writes the result as a new checkpoint, and reports the parameter reduction and, given held-out text, the
// validation-loss change.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { EXIT, type TokenizerName } from "@gantry/crds";
import { encodeText } from "@gantry/dataloader";
import { FACTOR_TARGETS, FactorPlanError, type FactorTarget } from "../factorize/factorize-plan.js";
import { factorizeCheckpoint, type FactorizeResult } from "../factorize/factorize-checkpoint.js";
import { rowsFromTokens } from "../factorize/validation-loss.js";
import { exitFor } from "../run/exit-code.js";
import { CODE_VERSION } from "../run/train-job.js";
import { asUri, runCommand, s3ClientFromEnv, selectBackendFlag, usageExit } from "./command-shell.js";

const USAGE = `usage: gantry-factorize --checkpoint URI --out URI --rank R [--targets q,k,v,o,up,down] [--layers 0,1,...]
                        [--eval-text FILE] [--eval-rows N] [--dense] [--backend B] [--json]
  Replaces each chosen W [d_in, d_out] of the newest checkpoint under URI by U [d_in, R] · V [R, d_out] (truncated SVD),
  writes a new checkpoint under --out and reports the parameter reduction and the error of each matrix. --eval-text
  (plain text, or .jsonl with a "text" field) gives held-out text for the validation-loss change. --dense writes
  U·V multiplied out under the original names, for tools that read dense checkpoints only. Default targets: all.`;

/** Held-out text from a .txt or .jsonl file ({"text": ...} per line). */
function readEvalText(path: string): string {
  const raw = readFileSync(path, "utf8");
  if (!path.endsWith(".jsonl")) return raw;
  return raw
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => String((JSON.parse(l) as { text?: unknown }).text ?? ""))
    .join("\n");
}

function list(text: string | undefined): string[] | undefined {
  return text === undefined ? undefined : text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function print(r: FactorizeResult): void {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`parameters: ${r.reduction.before.toLocaleString("en-US")} → ${r.reduction.after.toLocaleString("en-US")} (${pct(r.reduction.ratio)}; factorized matrices ${r.reduction.matricesBefore.toLocaleString("en-US")} → ${r.reduction.matricesAfter.toLocaleString("en-US")})`);
  for (const f of r.reports) console.log(`  ${f.name.padEnd(16)} [${f.dIn}×${f.dOut}] rank ${f.rank}: ‖W−UV‖/‖W‖ ${(f.error / (f.norm || 1)).toFixed(4)}, energy kept ${pct(f.energyKept)}`);
  for (const k of r.plan.kept) console.log(`  ${k.name.padEnd(16)} kept dense: ${k.reason}`);
  if (r.validation !== undefined) console.log(`validation loss over ${r.validation.rows} rows: ${r.validation.before.toFixed(4)} → ${r.validation.after.toFixed(4)} (${r.validation.change >= 0 ? "+" : ""}${r.validation.change.toFixed(4)})`);
  console.log(`checkpoint: ${r.checkpoint.uri}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: "string" },
      out: { type: "string" },
      rank: { type: "string" },
      targets: { type: "string", default: FACTOR_TARGETS.join(",") },
      layers: { type: "string" },
      "eval-text": { type: "string" },
      "eval-rows": { type: "string", default: "64" },
      dense: { type: "boolean", default: false },
      backend: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || values.checkpoint === undefined || values.out === undefined || values.rank === undefined) return usageExit(USAGE, values.help);
  const [source, output, rank] = [asUri(values.checkpoint), asUri(values.out), values.rank];
  return runCommand("gantry-factorize", async () => {
    const targets = list(values.targets) ?? [];
    for (const t of targets) if (!(FACTOR_TARGETS as readonly string[]).includes(t)) throw new FactorPlanError(`unknown target ${t}; use ${FACTOR_TARGETS.join(", ")}`);
    const layers = list(values.layers)?.map(Number);
    const s3 = s3ClientFromEnv([source, output], "gantry-factorize");
    await selectBackendFlag(values.backend);
    const evalText = values["eval-text"] === undefined ? undefined : readEvalText(values["eval-text"]);
    const maxRows = Number(values["eval-rows"]);
    const r = await factorizeCheckpoint({
      source,
      output,
      request: { targets: targets as FactorTarget[], rank: Number(rank), ...(layers === undefined ? {} : { layers }) },
      dense: values.dense,
      ...(evalText === undefined ? {} : { rowsFor: (config, tokenizer) => rowsFromTokens(encodeText(tokenizer as TokenizerName, evalText), config.contextLength, maxRows) }),
      ...(s3 === undefined ? {} : { s3 }),
      codeVersion: CODE_VERSION,
    });
    if (values.json) console.log(JSON.stringify({ reduction: r.reduction, reports: r.reports, kept: r.plan.kept, validation: r.validation ?? null, checkpoint: r.checkpoint.uri }));
    else print(r);
    return EXIT.success;
  }, exitFor);
}

process.exitCode = await main();
