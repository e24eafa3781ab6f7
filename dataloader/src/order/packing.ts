// Packs a shard's documents into training samples: documents joined with EOS into one token stream, cut into
// samples of contextLength + 1 tokens that overlap by one (Megatron's layout: every token is a label exactly once).
// A sample's place depends only on the shard, so resume needs no packer carry-over for token shards.
import type { TokenArray } from "../megatron/dtype.js";
import type { IndexTable } from "../megatron/idx-codec.js";

/** Samples a shard of `tokens` tokens in `documents` documents yields; the tail shorter than a sample is dropped. */
export function samplesInShard(tokens: number, documents: number, contextLength: number): number {
  const stream = tokens + documents;
  return stream > contextLength ? Math.floor((stream - 1) / contextLength) : 0;
}

export interface PackedSample {
  /** contextLength + 1 tokens: inputs are [0, L), labels [1, L]. */
  tokens: Int32Array;
  /** Positions in `tokens` where a document starts; a document boundary lies just before each (after an EOS). */
  documentStarts: number[];
}

/** Where each sequence of a shard sits in its packed token stream. */
export class ShardStreamLayout {
  /** Stream offset of each sequence's first token. */
  private readonly starts: Float64Array;
  /** 1 where an EOS follows the sequence (it ends a document). */
  private readonly endsDocument: Uint8Array;
  /** 1 where the sequence starts a document. */
  private readonly startsDocument: Uint8Array;
  readonly length: number;

  constructor(private readonly table: IndexTable) {
    const n = table.sizes.length;
    this.starts = new Float64Array(n);
    this.endsDocument = new Uint8Array(n);
    this.startsDocument = new Uint8Array(n);
    for (const d of table.docIdx) {
      const s = Number(d);
      if (s < n) this.startsDocument[s] = 1;
      if (s > 0 && s <= n) this.endsDocument[s - 1] = 1;
    }
    if (n > 0) {
      this.startsDocument[0] = 1;
      this.endsDocument[n - 1] = 1;
    }
    let at = 0;
    for (let i = 0; i < n; i++) {
      this.starts[i] = at;
      at += (table.sizes[i] ?? 0) + (this.endsDocument[i] ?? 0);
    }
    this.length = at;
  }

  samples(contextLength: number): number {
    return this.length > contextLength ? Math.floor((this.length - 1) / contextLength) : 0;
  }

  /**
   * Packed sample `k`; `sequence(i)` returns the tokens of sequence i. `into`, when given, is the contextLength + 1
   * slots to fill (a slice of one buffer per batch saves an allocation per sample).
   */
  sample(k: number, contextLength: number, eos: number, sequence: (i: number) => TokenArray, into?: Int32Array): PackedSample {
    return this.pack(k, contextLength, eos, into, (i, offset, take) => sequence(i).subarray(offset, offset + take));
  }

  /**
   * Packed sample `k` read straight from the shard's whole token array: `tokens[tokenStarts[i]]` is sequence i's first
   * token. Same result as `sample`, without a typed-array view per sequence (the loader's hot path).
   */
  sampleFrom(k: number, contextLength: number, eos: number, tokens: TokenArray, tokenStarts: Float64Array, into?: Int32Array): PackedSample {
    return this.pack(k, contextLength, eos, into, (i, offset, take) => {
      const from = (tokenStarts[i] ?? 0) + offset;
      return tokens.subarray(from, from + take);
    });
  }

  /** The packing walk both readers share; `piece(i, offset, take)` gives those tokens of sequence i. */
  private pack(k: number, contextLength: number, eos: number, into: Int32Array | undefined, piece: (i: number, offset: number, take: number) => TokenArray): PackedSample {
    if (!Number.isInteger(k) || k < 0 || k >= this.samples(contextLength)) throw new RangeError(`shard has ${this.samples(contextLength)} samples at context ${contextLength}, asked for ${k}`);
    const want = contextLength + 1;
    if (into !== undefined && into.length !== want) throw new RangeError(`sample buffer holds ${into.length} tokens, a sample is ${want}`);
    const out = into ?? new Int32Array(want);
    const documentStarts: number[] = [];
    const sizes = this.table.sizes;
    let pos = k * contextLength;
    let filled = 0;
    let i = this.sequenceAt(pos);
    while (filled < want) {
      const size = sizes[i] ?? 0;
      const offset = pos - (this.starts[i] ?? 0);
      if (offset === 0 && this.startsDocument[i] === 1) documentStarts.push(filled);
      if (offset < size) {
        const take = Math.min(size - offset, want - filled);
        // One native copy (and widening to int32) per sequence piece, not a loop per token.
        out.set(piece(i, offset, take), filled);
        filled += take;
        pos += take;
        continue;
      }
      // Past the sequence's tokens: the EOS that ends its document, if it ends one, then the next sequence.
      if (this.endsDocument[i] === 1) {
        out[filled++] = eos;
        pos++;
      }
      i++;
    }
    return { tokens: out, documentStarts };
  }

  /** The sequence whose stream span [start, start + size + eos) holds `pos`. */
  private sequenceAt(pos: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.starts[mid] ?? 0) <= pos) lo = mid;
      else hi = mid - 1;
    }
    // Empty sequences share their start with the next one; the first of them is where the stream enters.
    while (lo > 0 && this.starts[lo - 1] === this.starts[lo]) lo--;
    return lo;
  }
}
