// Packs a rank's stream of documents into samples of contextLength + 1 tokens at stride contextLength (each token is a
// label once), with EOS after each document. Its whole state is the carry: the tokens from the next sample's start to
// the end of what was pushed, plus where documents start in it. A resume that restores the carry and reads on from the
// byte after the last pushed document emits exactly the samples an uninterrupted run emits (llm-foundry #1277).
import type { PackedSample } from "../order/packing.js";

export interface PackerCarry {
  tokens: Int32Array;
  /** Positions in `tokens` where a document starts. */
  documentStarts: number[];
}

export class TextPacker {
  private buf: Int32Array;
  private start = 0;
  private end = 0;
  /** Document starts as buffer positions, ascending; entries before `start` are dropped lazily. */
  private starts: number[] = [];
  private startsHead = 0;

  constructor(
    readonly contextLength: number,
    readonly eos: number,
    carry?: PackerCarry,
  ) {
    if (!Number.isInteger(contextLength) || contextLength < 1) throw new RangeError(`contextLength must be a positive integer, got ${contextLength}`);
    this.buf = new Int32Array(Math.max(2 * (contextLength + 1), carry?.tokens.length ?? 0));
    if (carry !== undefined) {
      this.buf.set(carry.tokens);
      this.end = carry.tokens.length;
      this.starts = [...carry.documentStarts];
    }
  }

  /** Appends one document and its EOS. */
  push(doc: ArrayLike<number>): void {
    if (doc.length === 0) return;
    const need = doc.length + 1;
    if (this.end + need > this.buf.length) this.grow(need);
    this.starts.push(this.end);
    this.buf.set(doc, this.end);
    this.end += doc.length;
    this.buf[this.end++] = this.eos;
  }

  /** The next complete sample, or undefined until enough tokens were pushed. Its tokens are a fresh array. */
  take(): PackedSample | undefined {
    const width = this.contextLength + 1;
    if (this.end - this.start < width) return undefined;
    const tokens = this.buf.slice(this.start, this.start + width);
    const documentStarts: number[] = [];
    while (this.startsHead < this.starts.length && (this.starts[this.startsHead] ?? 0) < this.start) this.startsHead++;
    for (let i = this.startsHead; i < this.starts.length; i++) {
      const p = (this.starts[i] ?? 0) - this.start;
      if (p >= width) break;
      documentStarts.push(p);
    }
    this.start += this.contextLength;
    return { tokens, documentStarts };
  }

  /**
   * The carry now. `tokens` is a view that later pushes never overwrite (they write past it or into a new buffer), so
   * a snapshot per sample costs nothing.
   */
  carry(): PackerCarry {
    while (this.startsHead < this.starts.length && (this.starts[this.startsHead] ?? 0) < this.start) this.startsHead++;
    const documentStarts: number[] = [];
    for (let i = this.startsHead; i < this.starts.length; i++) documentStarts.push((this.starts[i] ?? 0) - this.start);
    return { tokens: this.buf.subarray(this.start, this.end), documentStarts };
  }

  get pending(): number {
    return this.end - this.start;
  }

  private grow(need: number): void {
    // Always a new buffer (never an in-place shift), so earlier carry views stay valid.
    const live = this.end - this.start;
    const next = new Int32Array(Math.max(2 * (live + need), 2 * (this.contextLength + 1)));
    next.set(this.buf.subarray(this.start, this.end));
    this.starts = this.starts.slice(this.startsHead).map((p) => p - this.start);
    this.startsHead = 0;
    this.buf = next;
    this.end = live;
    this.start = 0;
  }
}
