// The compressed model file: one safetensors file that carries its own shape and tokenizer, so every command loads it
// like a checkpoint. Quantized matrices are stored as <name>.q8 (I8, the matrix's shape) and <name>.scale (F32, one
// per output channel); everything else as <name> (F32). Loading dequantizes to float32 (tfjs has no int8 matmul).
import type { TokenizerName } from "@gantry/crds";
import type { NamedArray } from "../checkpoint/named-array.js";
import { decodeSafetensors, encodeSafetensors, type NamedInt8Array, type SafeTensor } from "../checkpoint/safetensors.js";
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout } from "../model/param-layout.js";
import { dequantizeInt8, quantizeInt8, type Int8Matrix } from "./int8.js";
import { linearWeights } from "./linear-weights.js";

export const COMPRESSED_FORMAT = "gantry-compressed-v1";

export interface CompressedModelInfo {
  quantization: "none" | "int8-per-channel";
  /** What pruning made it, e.g. "wanda unstructured 0.5"; absent when dense. */
  pruning?: string;
}

export class CompressedModelError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`${source} is not a Gantry compressed model: ${reason}`);
    this.name = "CompressedModelError";
  }
}

export interface CompressedModel {
  config: ModelConfig;
  tokenizer: TokenizerName;
  info: CompressedModelInfo;
  /** float32 parameters in layout order (dequantized). */
  arrays: NamedArray[];
}

/** Encodes parameters (layout order), quantizing the linear layers when asked. */
export function encodeCompressedModel(config: ModelConfig, tokenizer: TokenizerName, arrays: readonly NamedArray[], info: CompressedModelInfo): Uint8Array {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  const quantized = new Map(info.quantization === "int8-per-channel" ? linearWeights(config).map((l) => [l.name, l]) : []);
  const out: (NamedArray | NamedInt8Array)[] = [];
  for (const spec of paramLayout(config)) {
    const a = byName.get(spec.name);
    if (a === undefined || !(a.data instanceof Float32Array)) throw new RangeError(`parameter ${spec.name} is missing or not float32`);
    const lin = quantized.get(spec.name);
    if (lin === undefined) {
      out.push(a);
      continue;
    }
    const m = quantizeInt8(a.data, lin.rows, lin.cols, lin.axis);
    out.push({ name: `${spec.name}.q8`, shape: [lin.rows, lin.cols], data: m.q }, { name: `${spec.name}.scale`, shape: [m.scales.length], data: m.scales });
  }
  const metadata: Record<string, string> = { "gantry.format": COMPRESSED_FORMAT, "gantry.model": JSON.stringify(config), "gantry.tokenizer": tokenizer, "gantry.quantization": info.quantization };
  if (info.pruning !== undefined) metadata["gantry.pruning"] = info.pruning;
  return encodeSafetensors(out, metadata);
}

export const isCompressedModel = (metadata: Readonly<Record<string, string>>): boolean => metadata["gantry.format"] === COMPRESSED_FORMAT;

/** Decodes a compressed model file: shape and tokenizer from its metadata, parameters dequantized, in layout order. */
export function decodeCompressedModel(bytes: Uint8Array, source: string, validate: (c: ModelConfig) => ModelConfig): CompressedModel {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (!isCompressedModel(metadata)) throw new CompressedModelError(source, `its metadata names no format ${COMPRESSED_FORMAT}`);
  let config: ModelConfig;
  try {
    config = validate(JSON.parse(metadata["gantry.model"] ?? "") as ModelConfig);
  } catch (err) {
    throw new CompressedModelError(source, `its model shape is unreadable: ${(err as Error).message}`);
  }
  const byName = new Map<string, SafeTensor>(tensors.map((t) => [t.name, t]));
  const linears = new Map(linearWeights(config).map((l) => [l.name, l]));
  const arrays: NamedArray[] = [];
  for (const t of tensors) {
    if (t.name.endsWith(".scale")) continue;
    if (t.name.endsWith(".q8")) {
      const name = t.name.slice(0, -3);
      const lin = linears.get(name);
      const scale = byName.get(`${name}.scale`);
      if (lin === undefined || scale === undefined || !(t.data instanceof Int8Array) || !(scale.data instanceof Float32Array)) throw new CompressedModelError(source, `${t.name} has no matching linear layer or scales`);
      const m: Int8Matrix = { q: t.data, scales: scale.data, rows: lin.rows, cols: lin.cols, axis: lin.axis };
      if (t.data.length !== lin.rows * lin.cols || scale.data.length !== (lin.axis === "row" ? lin.rows : lin.cols)) throw new CompressedModelError(source, `${t.name} does not have the shape of ${name}`);
      arrays.push({ name, shape: [lin.rows, lin.cols], data: dequantizeInt8(m) });
    } else if (t.data instanceof Float32Array) arrays.push({ name: t.name, shape: t.shape, data: t.data });
    else throw new CompressedModelError(source, `${t.name} is ${t.dtype}, expected F32`);
  }
  const info: CompressedModelInfo = { quantization: metadata["gantry.quantization"] === "int8-per-channel" ? "int8-per-channel" : "none" };
  if (metadata["gantry.pruning"] !== undefined) info.pruning = metadata["gantry.pruning"];
  return { config, tokenizer: (metadata["gantry.tokenizer"] ?? "") as TokenizerName, info, arrays };
}
