// The safetensors format (huggingface/safetensors): u64 LE header length n, n bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, padded with spaces to a multiple
// of 8, then the tensor bytes, little-endian, in the order of their offsets, with no gaps.
import { elementCount, type NamedArray } from "./named-array.js";

export type SafetensorsDtype = "F32" | "I32" | "I64" | "F16" | "BF16" | "I8";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4, I64: 8, F16: 2, BF16: 2, I8: 1 };
/** The reference implementation's limit: a larger header is an attack or garbage. */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsFormatError extends Error {
  constructor(
    /** The file or buffer, for messages. */
    readonly source: string,
    readonly reason: string,
  ) {
    super(`${source} is not valid safetensors: ${reason}`);
    this.name = "SafetensorsFormatError";
  }
}

/** A decoded tensor: F32/I32/I8 as their arrays, I64 as BigInt64Array, F16/BF16 as raw Uint16Array bits. */
export interface SafeTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint16Array | Int8Array;
}

/** An int8 tensor to encode (quantized weights); NamedArray stays float32/int32. */
export interface NamedInt8Array {
  name: string;
  shape: number[];
  data: Int8Array;
}

export interface DecodedSafetensors {
  tensors: SafeTensor[];
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Encodes F32/I32 (and I8) arrays in the order given (the order is part of the bytes, so keep it fixed for reproducible files). */
export function encodeSafetensors(tensors: readonly (NamedArray | NamedInt8Array)[], metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error("safetensors encoding assumes a little-endian host");
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header["__metadata__"] = { ...metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.name === "__metadata__" || t.name in header) throw new RangeError(`tensor name ${JSON.stringify(t.name)} is reserved or repeated`);
    if (elementCount(t.shape) !== t.data.length) throw new RangeError(`tensor ${t.name}: shape [${t.shape.join(", ")}] has ${elementCount(t.shape)} elements, data has ${t.data.length}`);
    const dtype = t.data instanceof Float32Array ? "F32" : t.data instanceof Int8Array ? "I8" : "I32";
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerBytes + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Decodes a whole file, checking the header against the spec: offsets in range, contiguous, sized by dtype × shape. */
export function decodeSafetensors(bytes: Uint8Array, source = "buffer"): DecodedSafetensors {
  const bad = (reason: string) => new SafetensorsFormatError(source, reason);
  if (bytes.length < 8) throw bad(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(`header length ${n} exceeds ${MAX_HEADER_BYTES}`);
  if (n > BigInt(bytes.length - 8)) throw bad(`header length ${n} runs past the end of the ${bytes.length}-byte file`);
  const headerEnd = 8 + Number(n);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (err) {
    throw bad(`header is not UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw bad("header is not a JSON object");
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("__metadata__ is not an object");
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") throw bad(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(name, value, bad));
  }
  const dataBytes = bytes.length - headerEnd;
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of byOffset) {
    if (e.end > dataBytes) throw bad(`tensor ${e.name}: data_offsets [${e.begin}, ${e.end}] run past the ${dataBytes} data bytes`);
    if (e.begin < expected) throw bad(`tensor ${e.name}: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor, which ends at ${expected}`);
    if (e.begin > expected) throw bad(`tensor ${e.name}: data_offsets start at ${e.begin}, leaving a gap after ${expected}`);
    expected = e.end;
  }
  if (expected !== dataBytes) throw bad(`tensors cover ${expected} of the ${dataBytes} data bytes`);
  const tensors = entries.map((e): SafeTensor => {
    // A copy, aligned for its typed array and independent of the file buffer.
    const copy = bytes.slice(headerEnd + e.begin, headerEnd + e.end).buffer;
    const data = e.dtype === "F32" ? new Float32Array(copy) : e.dtype === "I32" ? new Int32Array(copy) : e.dtype === "I64" ? new BigInt64Array(copy) : e.dtype === "I8" ? new Int8Array(copy) : new Uint16Array(copy);
    return { name: e.name, dtype: e.dtype, shape: e.shape, data };
  });
  return { tensors, metadata };
}

function parseEntry(name: string, value: unknown, bad: (reason: string) => SafetensorsFormatError): HeaderEntry {
  if (typeof value !== "object" || value === null) throw bad(`tensor ${name}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) throw bad(`tensor ${name}: dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(DTYPE_BYTES).join(", ")}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of sizes`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    throw bad(`tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw bad(`tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`);
  const want = elementCount(shape as number[]) * DTYPE_BYTES[dtype as SafetensorsDtype];
  if (end - begin !== want) throw bad(`tensor ${name}: ${dtype} [${(shape as number[]).join(", ")}] needs ${want} bytes, data_offsets give ${end - begin}`);
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** The float32 value of IEEE half-precision bits. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A decoded tensor as a NamedArray: F16/BF16 widened to F32 exactly, I8 widened to I32, I64 narrowed to I32 when every value fits. */
export function toNamedArray(t: SafeTensor): NamedArray {
  const { name, shape, data } = t;
  switch (t.dtype) {
    case "F32":
    case "I32":
      return { name, shape, data: data as Float32Array | Int32Array };
    case "F16":
      return { name, shape, data: Float32Array.from(data as Uint16Array, f16ToF32) };
    case "BF16": {
      const bits = new Uint32Array((data as Uint16Array).length);
      (data as Uint16Array).forEach((b, i) => (bits[i] = b << 16));
      return { name, shape, data: new Float32Array(bits.buffer) };
    }
    case "I8":
      return { name, shape, data: Int32Array.from(data as Int8Array) };
    case "I64": {
      const out = new Int32Array(data.length);
      (data as BigInt64Array).forEach((v, i) => {
        if (v > 2147483647n || v < -2147483648n) throw new RangeError(`tensor ${name}: I64 value ${v} at ${i} does not fit in int32`);
        out[i] = Number(v);
      });
      return { name, shape, data: out };
    }
  }
}
