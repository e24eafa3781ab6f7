// Encodes and decodes the .idx file of a Megatron indexed dataset (MMIDIDX, version 1), bit-exactly.
//
//   magic "MMIDIDX\0\0" (9 bytes) | u64 version=1 | u8 dtype code | u64 sequence count | u64 document count
//   | int32 sizes[sequences] | int64 pointers[sequences] | int64 doc_idx[documents]
//
// All little-endian. doc_idx holds sequence indices where documents start, with a leading 0 and a closing entry,
// so "document count" in the header is the number of documents + 1, as Megatron writes it.
import { CorruptShardError } from "../errors.js";
import { DTYPES, TOKEN_DTYPES, dtypeByCode, type TokenDtype } from "./dtype.js";

export const IDX_MAGIC = Uint8Array.from([0x4d, 0x4d, 0x49, 0x44, 0x49, 0x44, 0x58, 0x00, 0x00]);
export const IDX_HEADER_BYTES = 9 + 8 + 1 + 8 + 8;

export interface IndexTable {
  dtype: TokenDtype;
  /** Tokens in each sequence. */
  sizes: Int32Array;
  /** Byte offset of each sequence in the .bin. */
  pointers: BigInt64Array;
  /** Sequence index where each document starts, then the sequence count: documents + 1 entries. */
  docIdx: BigInt64Array;
}

export function encodeIdx(table: IndexTable): Uint8Array {
  const seqs = table.sizes.length;
  if (table.pointers.length !== seqs) throw new RangeError(`pointers has ${table.pointers.length} entries for ${seqs} sequences`);
  const out = new Uint8Array(IDX_HEADER_BYTES + seqs * 4 + seqs * 8 + table.docIdx.length * 8);
  const view = new DataView(out.buffer);
  out.set(IDX_MAGIC, 0);
  view.setBigUint64(9, 1n, true);
  view.setUint8(17, DTYPES[table.dtype].code);
  view.setBigUint64(18, BigInt(seqs), true);
  view.setBigUint64(26, BigInt(table.docIdx.length), true);
  let at = IDX_HEADER_BYTES;
  for (let i = 0; i < seqs; i++, at += 4) view.setInt32(at, table.sizes[i] ?? 0, true);
  for (let i = 0; i < seqs; i++, at += 8) view.setBigInt64(at, table.pointers[i] ?? 0n, true);
  for (let i = 0; i < table.docIdx.length; i++, at += 8) view.setBigInt64(at, table.docIdx[i] ?? 0n, true);
  return out;
}

/**
 * Decodes and validates an .idx. `binBytes`, when given, is the .bin's size, so pointers past its end are caught here
 * rather than as a short read later.
 */
export function decodeIdx(shard: string, bytes: Uint8Array, binBytes?: number): IndexTable {
  const fail = (reason: string): never => {
    throw new CorruptShardError(shard, `.idx ${reason}`);
  };
  if (bytes.length < IDX_HEADER_BYTES) fail(`is ${bytes.length} bytes, shorter than the ${IDX_HEADER_BYTES}-byte header`);
  for (let i = 0; i < IDX_MAGIC.length; i++) if (bytes[i] !== IDX_MAGIC[i]) fail("does not start with the MMIDIDX magic");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getBigUint64(9, true);
  if (version !== 1n) fail(`has version ${version}, only version 1 is supported`);
  const code = view.getUint8(17);
  const name = dtypeByCode(code);
  if (name === undefined) return fail(`has unknown dtype code ${code}`);
  const dtype = TOKEN_DTYPES.find((d) => d === name);
  if (dtype === undefined) return fail(`has dtype ${name}, which cannot hold token ids`);
  const seqs = view.getBigUint64(18, true);
  const docs = view.getBigUint64(26, true);
  const expected = BigInt(IDX_HEADER_BYTES) + seqs * 12n + docs * 8n;
  if (BigInt(bytes.length) !== expected) {
    fail(`is ${bytes.length} bytes, but its header (${seqs} sequences, ${docs} document entries) needs ${expected}: truncated or corrupt`);
  }
  const n = Number(seqs);
  const d = Number(docs);
  const sizes = new Int32Array(n);
  const pointers = new BigInt64Array(n);
  const docIdx = new BigInt64Array(d);
  let at = IDX_HEADER_BYTES;
  for (let i = 0; i < n; i++, at += 4) sizes[i] = view.getInt32(at, true);
  for (let i = 0; i < n; i++, at += 8) pointers[i] = view.getBigInt64(at, true);
  for (let i = 0; i < d; i++, at += 8) docIdx[i] = view.getBigInt64(at, true);
  validate(fail, { dtype, sizes, pointers, docIdx }, binBytes);
  return { dtype, sizes, pointers, docIdx };
}

function validate(fail: (reason: string) => never, t: IndexTable, binBytes: number | undefined): void {
  const width = BigInt(DTYPES[t.dtype].bytes);
  for (let i = 0; i < t.sizes.length; i++) {
    const size = t.sizes[i] ?? 0;
    const ptr = t.pointers[i] ?? 0n;
    if (size < 0) fail(`sequence ${i} has negative size ${size}`);
    if (ptr < 0n || ptr % width !== 0n) fail(`sequence ${i} has pointer ${ptr}, not a non-negative multiple of ${width}`);
    if (binBytes !== undefined && ptr + BigInt(size) * width > BigInt(binBytes)) {
      fail(`sequence ${i} ends at byte ${ptr + BigInt(size) * width}, past the end of the ${binBytes}-byte .bin`);
    }
  }
  const seqs = BigInt(t.sizes.length);
  let prev = -1n;
  for (let i = 0; i < t.docIdx.length; i++) {
    const v = t.docIdx[i] ?? 0n;
    if (v < prev || v > seqs) fail(`doc_idx[${i}] = ${v} is out of order or past the ${seqs} sequences`);
    prev = v;
  }
  if (t.docIdx.length > 0 && t.docIdx[0] !== 0n) fail(`doc_idx starts at ${t.docIdx[0]}, not 0`);
}
