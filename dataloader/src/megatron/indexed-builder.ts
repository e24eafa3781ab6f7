// Builds one Megatron indexed shard (.bin + .idx) in memory, a document at a time.
import { DTYPES, encodeTokens, type TokenDtype } from "./dtype.js";
import { encodeIdx } from "./idx-codec.js";

export interface BuiltShard {
  bin: Uint8Array;
  idx: Uint8Array;
  sequences: number;
  documents: number;
  tokens: number;
}

export class IndexedShardBuilder {
  private readonly chunks: Uint8Array[] = [];
  private readonly sizes: number[] = [];
  private readonly pointers: bigint[] = [];
  private readonly docStarts: bigint[] = [0n];
  private binBytes = 0;
  private tokenCount = 0;

  constructor(readonly dtype: TokenDtype) {}

  /** Adds a document made of one or more sequences (Megatron's "sentences"); a plain token list is one sequence. */
  addDocument(doc: ArrayLike<number> | readonly ArrayLike<number>[]): void {
    const sequences = isSequenceList(doc) ? doc : [doc];
    for (const seq of sequences) {
      const bytes = encodeTokens(this.dtype, seq);
      this.pointers.push(BigInt(this.binBytes));
      this.sizes.push(seq.length);
      this.chunks.push(bytes);
      this.binBytes += bytes.length;
      this.tokenCount += seq.length;
    }
    this.docStarts.push(BigInt(this.sizes.length));
  }

  /** Bytes of .bin written so far, to decide when to cut a shard. */
  get bytes(): number {
    return this.binBytes;
  }

  get documents(): number {
    return this.docStarts.length - 1;
  }

  finish(): BuiltShard {
    const bin = new Uint8Array(this.binBytes);
    let at = 0;
    for (const c of this.chunks) {
      bin.set(c, at);
      at += c.length;
    }
    const idx = encodeIdx({
      dtype: this.dtype,
      sizes: Int32Array.from(this.sizes),
      pointers: BigInt64Array.from(this.pointers),
      docIdx: BigInt64Array.from(this.docStarts),
    });
    return { bin, idx, sequences: this.sizes.length, documents: this.documents, tokens: this.tokenCount };
  }
}

function isSequenceList(doc: ArrayLike<number> | readonly ArrayLike<number>[]): doc is readonly ArrayLike<number>[] {
  return Array.isArray(doc) && doc.length > 0 && typeof doc[0] !== "number";
}

export const bytesPerToken = (dtype: TokenDtype): number => DTYPES[dtype].bytes;
