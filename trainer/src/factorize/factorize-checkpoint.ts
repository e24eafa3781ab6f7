// gantry-factorize's work: the newest checkpoint under a URI, its chosen matrices replaced by rank-r factors, written
// as a new checkpoint, with the parameter reduction and (given held-out rows) the validation-loss change.
import * as tf from "@tensorflow/tfjs-core";
import type { CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import type { CommittedCheckpoint } from "../checkpoint/checkpoint-writer.js";
import { writeDerivedCheckpoint } from "../checkpoint/derived-checkpoint.js";
import { loadCheckpointModel } from "../model-source/checkpoint-model.js";
import { forward } from "../model/gpt.js";
import { structureWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { importParams, importTensors } from "../model/param-io.js";
import { FACTORIZED_FROM_KEY, FACTORIZED_KEY, factorizedExtra } from "./factorized-checkpoint.js";
import { factorizedForward } from "./factorized-objective.js";
import { factorizedLayout, parameterReduction, planFactorization, type FactorPlan, type FactorRequest, type ParameterReduction } from "./factorize-plan.js";
import { expandFactors, factorizeWeights, type FactorReport } from "./factorize-weights.js";
import { meanCrossEntropy } from "./validation-loss.js";

export interface FactorizeOptions {
  /** Checkpoint root to read (its newest whole checkpoint). */
  source: string;
  /** Checkpoint root to write the result to (a new root; the source is never changed). */
  output: string;
  request: FactorRequest;
  /** Write the multiplied-out dense weights (readable by every tool) instead of the factors. */
  dense?: boolean;
  /** Held-out rows (contextLength + 1 tokens) for the validation-loss change; `rowsFor` makes them from the tokenizer. */
  rowsFor?: (config: ModelConfig, tokenizer: string) => Int32Array[];
  s3?: CheckpointS3Client;
  codeVersion?: string;
}

export interface ValidationChange {
  rows: number;
  before: number;
  after: number;
  /** after − before (nats). */
  change: number;
}

export interface FactorizeResult {
  config: ModelConfig;
  plan: FactorPlan;
  reduction: ParameterReduction;
  reports: FactorReport[];
  validation?: ValidationChange;
  checkpoint: CommittedCheckpoint;
}

export async function factorizeCheckpoint(opts: FactorizeOptions): Promise<FactorizeResult> {
  const model = await loadCheckpointModel(opts.source, opts.s3);
  const { config } = model;
  const plan = planFactorization(config, opts.request);
  const { weights, reports } = factorizeWeights(config, model.arrays, plan);
  const reduction = parameterReduction(config, plan);
  const rows = opts.rowsFor?.(config, model.tokenizer);
  let validation: ValidationChange | undefined;
  if (rows !== undefined && rows.length > 0) {
    const dense = importParams(config, model.arrays);
    const factors = importTensors(factorizedLayout(config, plan), weights);
    try {
      const before = await meanCrossEntropy((t) => forward(config, structureWeights(config, dense), t), rows);
      const after = await meanCrossEntropy((t) => factorizedForward(config, plan, factors, t), rows);
      validation = { rows: rows.length, before, after, change: after - before };
    } finally {
      tf.dispose([...dense, ...factors]);
    }
  }
  const m = model.manifest;
  // The source's shape and tokenizer carry over; its own factorization record (if it was factorized) does not.
  const inherited = Object.fromEntries(Object.entries(m.extra ?? {}).filter(([k]) => k !== FACTORIZED_KEY));
  const checkpoint = await writeDerivedCheckpoint({
    uri: opts.output,
    ...(opts.s3 === undefined ? {} : { s3: opts.s3 }),
    source: m,
    weights: opts.dense === true ? expandFactors(config, weights, plan) : weights,
    extra: { ...inherited, ...(opts.dense === true ? { [FACTORIZED_FROM_KEY]: `${opts.source} (dense, rank ${opts.request.rank})` } : factorizedExtra(plan, opts.source)) },
    codeVersion: opts.codeVersion ?? "gantry-factorize/0.1.0",
    keep: 1,
  });
  return { config, plan, reduction, reports, ...(validation === undefined ? {} : { validation }), checkpoint };
}
