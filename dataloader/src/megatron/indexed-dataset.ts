// Reads a Megatron indexed shard held in memory: O(1) access to any sequence or document.
import { CorruptShardError } from "../errors.js";
import { DTYPES, tokenView, type TokenArray, type TokenDtype } from "./dtype.js";
import { decodeIdx, type IndexTable } from "./idx-codec.js";

export class IndexedDataset {
  readonly dtype: TokenDtype;

  private constructor(
    readonly shard: string,
    readonly table: IndexTable,
    private readonly bin: Uint8Array,
  ) {
    this.dtype = table.dtype;
  }

  /** Decodes `idx` and checks it against `bin`; errors name `shard`. */
  static open(shard: string, idx: Uint8Array, bin: Uint8Array): IndexedDataset {
    return new IndexedDataset(shard, decodeIdx(shard, idx, bin.length), bin);
  }

  get sequences(): number {
    return this.table.sizes.length;
  }

  get documents(): number {
    return Math.max(0, this.table.docIdx.length - 1);
  }

  /** Tokens of sequence `i`, a view into the .bin where alignment allows. */
  sequence(i: number): TokenArray {
    const size = this.table.sizes[i];
    const ptr = this.table.pointers[i];
    if (size === undefined || ptr === undefined) throw new RangeError(`shard ${this.shard} has ${this.sequences} sequences, asked for ${i}`);
    return tokenView(this.dtype, this.bin, Number(ptr), size);
  }

  /** Sequence index range [start, end) of document `d`. */
  documentSequences(d: number): { start: number; end: number } {
    const start = this.table.docIdx[d];
    const end = this.table.docIdx[d + 1];
    if (start === undefined || end === undefined) throw new RangeError(`shard ${this.shard} has ${this.documents} documents, asked for ${d}`);
    return { start: Number(start), end: Number(end) };
  }

  /** All tokens of document `d`, its sequences concatenated. */
  document(d: number): Int32Array {
    const { start, end } = this.documentSequences(d);
    let length = 0;
    for (let i = start; i < end; i++) length += this.table.sizes[i] ?? 0;
    const out = new Int32Array(length);
    let at = 0;
    for (let i = start; i < end; i++) {
      const seq = this.sequence(i);
      out.set(seq, at);
      at += seq.length;
    }
    return out;
  }

  /** Total tokens across sequences. */
  get tokens(): number {
    let n = 0;
    for (const s of this.table.sizes) n += s;
    return n;
  }

  /** Checks that sequences tile the .bin exactly, as our writer and Megatron's lay them out. */
  assertContiguous(): void {
    let expected = 0n;
    const width = BigInt(DTYPES[this.dtype].bytes);
    for (let i = 0; i < this.sequences; i++) {
      if (this.table.pointers[i] !== expected) throw new CorruptShardError(this.shard, `sequence ${i} starts at byte ${this.table.pointers[i]}, expected ${expected}`);
      expected += BigInt(this.table.sizes[i] ?? 0) * width;
    }
    if (expected !== BigInt(this.bin.length)) throw new CorruptShardError(this.shard, `.bin is ${this.bin.length} bytes, its sequences cover ${expected}`);
  }
}
