// Loads spec.model.pretrained: a Gantry checkpoint (a checkpoint root, whose newest whole step is used, or one
// step-XXXXXXXX directory), or a Hugging Face GPT-2 model.safetensors (a file, or a directory holding one) mapped to
// Gantry's names. The weights come back in paramLayout order with the content hash a PEFT checkpoint records.
import type { JobSpec } from "@gantry/crds";
import { CheckpointReader } from "../checkpoint/checkpoint-reader.js";
import { openCheckpointStore, type CheckpointS3Client } from "../checkpoint/checkpoint-store.js";
import { parseStepDirName } from "../checkpoint/layout.js";
import { elementCount, type NamedArray } from "../checkpoint/named-array.js";
import { decodeSafetensors, toNamedArray } from "../checkpoint/safetensors.js";
import { checkGpt2Expressible } from "../interop/hf-gpt2.js";
import type { ModelConfig } from "../model/model-config.js";
import { matchNamedArrays } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { weightsHash } from "../peft/base-hash.js";
import { assertPlainCheckpoint } from "../peft/peft-manifest.js";
import { ConfigError } from "../runtime/run-config.js";

export type PretrainedRef = NonNullable<JobSpec["model"]["pretrained"]>;

export interface PretrainedWeights {
  /** Every parameter of the model, in paramLayout order, float32. */
  weights: NamedArray[];
  ref: PretrainedRef;
  /** weightsHash(weights). */
  sha256: string;
}

/** model.pretrained cannot be loaded as this model: missing, of another shape, or not expressible. */
export class PretrainedLoadError extends ConfigError {
  constructor(
    readonly uri: string,
    readonly reason: string,
  ) {
    super(`model.pretrained ${uri}: ${reason}`);
    this.name = "PretrainedLoadError";
  }
}

/** Splits `scheme://…/parent/last` into its parent URI and last segment. */
function splitLast(uri: string): { parent: string; last: string } {
  const trimmed = uri.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  return { parent: trimmed.slice(0, at), last: trimmed.slice(at + 1) };
}

async function loadGantry(ref: PretrainedRef, s3: CheckpointS3Client | undefined): Promise<NamedArray[]> {
  const { parent, last } = splitLast(ref.uri);
  const step = parseStepDirName(last);
  const reader = new CheckpointReader(openCheckpointStore(step === undefined ? ref.uri : parent, s3));
  const loaded = step === undefined ? await reader.latest() : await reader.load(step);
  if (loaded === undefined) throw new PretrainedLoadError(ref.uri, "holds no whole checkpoint");
  assertPlainCheckpoint(loaded.manifest, `${ref.uri.replace(/\/+$/, "")}${step === undefined ? `/${loaded.dir}` : ""}`);
  return loaded.weights;
}

async function loadHf(ref: PretrainedRef, config: ModelConfig, s3: CheckpointS3Client | undefined): Promise<NamedArray[]> {
  const { parent, last } = splitLast(ref.uri);
  const [dir, file] = last.endsWith(".safetensors") ? [parent, last] : [ref.uri, "model.safetensors"];
  const bytes = await openCheckpointStore(dir, s3).read(file);
  if (bytes === undefined) throw new PretrainedLoadError(ref.uri, `${file} does not exist`);
  const tensors = decodeSafetensors(bytes, ref.uri).tensors.map(toNamedArray);
  return hfGpt2ToGantry(tensors, config, ref.uri);
}

/**
 * A Hugging Face GPT-2 state dict (GPT2LMHeadModel or GPT2Model: the `transformer.` prefix is optional) as Gantry
 * parameters: the inverse of interop/hf-gpt2.ts. c_attn splits into q, k, v by columns; Conv1D is already x·W.
 * The causal-mask buffers (attn.bias, attn.masked_bias) and the tied lm_head are skipped. A position table longer
 * than the model's context (GPT-2 has 1024) is cut to its first contextLength rows.
 */
export function hfGpt2ToGantry(tensors: readonly NamedArray[], config: ModelConfig, source = "model.safetensors"): NamedArray[] {
  try {
    checkGpt2Expressible({ ...config, mlpRatio: config.hidden / config.dModel });
  } catch (err) {
    throw new PretrainedLoadError(source, `is a GPT-2 model, but spec.model is not: ${(err as Error).message}`);
  }
  const byName = new Map<string, NamedArray>();
  for (const t of tensors) {
    const name = t.name.startsWith("transformer.") ? t.name.slice("transformer.".length) : t.name;
    if (name === "lm_head.weight" || /^h\.\d+\.attn\.(bias|masked_bias)$/.test(name)) continue;
    byName.set(name, t);
  }
  const used = new Set<string>();
  const take = (name: string): Float32Array => {
    const t = byName.get(name);
    if (t === undefined) throw new PretrainedLoadError(source, `tensor ${name} is missing`);
    if (!(t.data instanceof Float32Array)) throw new PretrainedLoadError(source, `tensor ${name} is not floating point`);
    used.add(name);
    return t.data;
  };
  const shapeOf = (name: string): number[] => byName.get(name)?.shape ?? [];
  const { dModel: d, contextLength: ctx } = config;
  const out: NamedArray[] = [];
  const put = (name: string, shape: number[], data: Float32Array) => {
    if (data.length !== elementCount(shape)) throw new PretrainedLoadError(source, `${name}: ${data.length} values for shape [${shape.join(", ")}]`);
    out.push({ name, shape, data });
  };
  put("wte", shapeOf("wte.weight"), take("wte.weight"));
  const wpe = take("wpe.weight");
  const positions = shapeOf("wpe.weight")[0] ?? 0;
  if (positions < ctx) throw new PretrainedLoadError(source, `has ${positions} positions, the model needs contextLength ${ctx}`);
  put("wpe", [ctx, d], wpe.slice(0, ctx * d));
  for (let i = 0; i < config.layers; i++) {
    const hf = `h.${i}`;
    put(`h.${i}.ln_1.g`, [d], take(`${hf}.ln_1.weight`));
    put(`h.${i}.ln_1.b`, [d], take(`${hf}.ln_1.bias`));
    const [q, k, v] = splitColumns(take(`${hf}.attn.c_attn.weight`), d, 3) as [Float32Array, Float32Array, Float32Array];
    put(`h.${i}.attn.q`, [d, d], q);
    put(`h.${i}.attn.k`, [d, d], k);
    put(`h.${i}.attn.v`, [d, d], v);
    const [qb, kb, vb] = splitColumns(take(`${hf}.attn.c_attn.bias`), 1, 3) as [Float32Array, Float32Array, Float32Array];
    put(`h.${i}.attn.q_b`, [d], qb);
    put(`h.${i}.attn.k_b`, [d], kb);
    put(`h.${i}.attn.v_b`, [d], vb);
    put(`h.${i}.attn.o`, [d, d], take(`${hf}.attn.c_proj.weight`));
    put(`h.${i}.attn.o_b`, [d], take(`${hf}.attn.c_proj.bias`));
    put(`h.${i}.ln_2.g`, [d], take(`${hf}.ln_2.weight`));
    put(`h.${i}.ln_2.b`, [d], take(`${hf}.ln_2.bias`));
    put(`h.${i}.mlp.fc`, [d, config.hidden], take(`${hf}.mlp.c_fc.weight`));
    put(`h.${i}.mlp.fc_b`, [config.hidden], take(`${hf}.mlp.c_fc.bias`));
    put(`h.${i}.mlp.proj`, [config.hidden, d], take(`${hf}.mlp.c_proj.weight`));
    put(`h.${i}.mlp.proj_b`, [d], take(`${hf}.mlp.c_proj.bias`));
  }
  put("ln_f.g", [d], take("ln_f.weight"));
  put("ln_f.b", [d], take("ln_f.bias"));
  const extra = [...byName.keys()].filter((n) => !used.has(n));
  if (extra[0] !== undefined) throw new PretrainedLoadError(source, `tensor ${extra[0]} has no Gantry counterpart (${extra.length} such): does model.layers match?`);
  const order = new Map(paramLayout(config).map((p, i) => [p.name, i]));
  return out.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
}

/** Row-major [rows, parts·w] → `parts` matrices [rows, w]. */
function splitColumns(m: Float32Array, rows: number, parts: number): Float32Array[] {
  const w = m.length / rows / parts;
  return Array.from({ length: parts }, (_, p) => {
    const out = new Float32Array(rows * w);
    for (let r = 0; r < rows; r++) out.set(m.subarray(r * parts * w + p * w, r * parts * w + (p + 1) * w), r * w);
    return out;
  });
}

/** The pretrained weights of `ref` as this model's parameters, checked by name and shape, with their hash. */
export async function loadPretrained(ref: PretrainedRef, config: ModelConfig, s3?: CheckpointS3Client): Promise<PretrainedWeights> {
  if (ref.uri.startsWith("s3://") && s3 === undefined) throw new PretrainedLoadError(ref.uri, "is on S3, but this run has no S3 client (S3_ENDPOINT and credentials from spec.data.s3.credentialsSecret)");
  const raw = ref.format === "hf-safetensors" ? await loadHf(ref, config, s3) : await loadGantry(ref, s3);
  let weights: NamedArray[];
  try {
    weights = matchNamedArrays(paramLayout(config), raw);
  } catch (err) {
    throw new PretrainedLoadError(ref.uri, `does not fit spec.model: ${(err as Error).message}`);
  }
  return { weights, ref, sha256: weightsHash(weights) };
}
