// `gantry-train merge`: a LoRA checkpoint (adapters alone) plus its base, folded into a plain Gantry checkpoint that
// gantry-generate and pretrained starts read, and optionally a Hugging Face GPT-2 directory. The shell around
// mergePeft: read, verify the base against the recorded hash, fold, write.
import { readCheckpointAt, type CheckpointAt } from "../checkpoint/checkpoint-at.js";
import { openCheckpointStore, type CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import type { CommittedCheckpoint } from "../checkpoint/checkpoint-writer.js";
import { writeDerivedCheckpoint } from "../checkpoint/derived-checkpoint.js";
import { writeHfGpt2 } from "../interop/hf-gpt2.js";
import { validateModelConfig, type ModelConfig } from "../model/model-config.js";
import { loadPretrained } from "../run/pretrained.js";
import { mergePeft } from "./merge-lora.js";
import { PeftCheckpointError, readPeftManifest, verifyBase } from "./peft-manifest.js";

export interface MergeOptions {
  /** A PEFT checkpoint root (its newest whole step is merged) or one step directory. */
  checkpoint: string;
  /** Root of the plain checkpoint to write (file:// or s3://). */
  out: string;
  /** Also write model.safetensors + config.json for transformers' GPT2LMHeadModel here. */
  hfOut?: string;
  s3?: CheckpointS3Client;
  codeVersion: string;
}

export interface MergeResult {
  source: string;
  written: CommittedCheckpoint;
  config: ModelConfig;
  /** Parameters of the merged model, and of the adapters folded into it. */
  parameters: number;
  adapterParameters: number;
  hfOut?: string;
}

async function readCheckpoint(uri: string, s3: CheckpointS3Client | undefined): Promise<CheckpointAt> {
  const found = await readCheckpointAt(uri, s3);
  if (found === undefined) throw new PeftCheckpointError(uri.replace(/\/+$/, ""), "holds no whole checkpoint");
  return found;
}

export async function mergeCheckpoint(opts: MergeOptions): Promise<MergeResult> {
  const { loaded, location } = await readCheckpoint(opts.checkpoint, opts.s3);
  const info = readPeftManifest(loaded.manifest, location);
  if (info === undefined) throw new PeftCheckpointError(location, "is already a whole-model checkpoint: there is nothing to merge");
  const model = loaded.manifest.extra?.["model"];
  if (typeof model !== "string") throw new PeftCheckpointError(location, "records no model shape (extra.model)");
  const config = validateModelConfig(JSON.parse(model) as ModelConfig);
  const base = await loadPretrained({ uri: info.base.uri, format: info.base.format }, config, opts.s3);
  verifyBase(info, base.sha256, location);
  const merged = mergePeft(config, info.peft, base.weights, loaded.weights);
  const tokenizer = loaded.manifest.extra?.["tokenizer"];
  // A merged model is an export, not a training state.
  const written = await writeDerivedCheckpoint({
    uri: opts.out,
    ...(opts.s3 === undefined ? {} : { s3: opts.s3 }),
    source: loaded.manifest,
    weights: merged,
    extra: { model, ...(tokenizer === undefined ? {} : { tokenizer }), "merged.from": location, "merged.base.sha256": info.base.sha256 },
    codeVersion: opts.codeVersion,
    keep: 1000,
  });
  if (opts.hfOut !== undefined) await writeHfGpt2(openCheckpointStore(opts.hfOut, opts.s3), merged, { ...config, mlpRatio: config.hidden / config.dModel });
  const count = (xs: readonly { data: { length: number } }[]) => xs.reduce((n, x) => n + x.data.length, 0);
  return { source: location, written, config, parameters: count(merged), adapterParameters: count(loaded.weights), ...(opts.hfOut === undefined ? {} : { hfOut: opts.hfOut }) };
}
