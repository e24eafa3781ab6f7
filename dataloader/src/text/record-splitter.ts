// Cuts a byte stream into records with the byte offset just past each: lines for JSONL, the whole object for .txt.
// The offsets are what a raw-text cursor stores, so a resume starts reading at a record boundary.

export interface RawRecord {
  bytes: Uint8Array;
  /** Offset of the record's first byte in the (uncompressed) object. */
  start: number;
  /** Offset just past the record and its newline: where the next record starts. */
  end: number;
}

const NEWLINE = 0x0a;

export class RecordSplitter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private at: number;

  constructor(
    /** "line": one record per \n-terminated line (JSONL); "whole": the entire object is one record (.txt). */
    readonly mode: "line" | "whole",
    startOffset: number,
    /** A record longer than this fails rather than growing memory without bound. */
    readonly maxRecordBytes: number,
    private readonly onTooLarge: (start: number, bytes: number) => Error,
  ) {
    this.at = startOffset;
  }

  /** Feeds a chunk; returns the records it completes. */
  push(chunk: Uint8Array): RawRecord[] {
    const out: RawRecord[] = [];
    if (this.mode === "line") {
      let from = 0;
      for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, from)) {
        out.push(this.cut(chunk.subarray(from, nl), 1));
        from = nl + 1;
      }
      if (from < chunk.length) this.hold(chunk.subarray(from));
    } else this.hold(chunk);
    return out;
  }

  /** The last record (a final line without a newline, or the whole object); none when nothing is left. */
  finish(): RawRecord[] {
    if (this.pendingBytes === 0) return [];
    return [this.cut(new Uint8Array(0), 0)];
  }

  private hold(bytes: Uint8Array): void {
    if (this.pendingBytes + bytes.length > this.maxRecordBytes) throw this.onTooLarge(this.at, this.pendingBytes + bytes.length);
    // Copy: the chunk's buffer may be reused by the reader.
    this.pending.push(bytes.slice());
    this.pendingBytes += bytes.length;
  }

  private cut(tail: Uint8Array, terminator: number): RawRecord {
    let bytes = tail;
    if (this.pendingBytes > 0) {
      bytes = new Uint8Array(this.pendingBytes + tail.length);
      let o = 0;
      for (const p of this.pending) {
        bytes.set(p, o);
        o += p.length;
      }
      bytes.set(tail, o);
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (bytes.length > this.maxRecordBytes) throw this.onTooLarge(this.at, bytes.length);
    const start = this.at;
    this.at += bytes.length + terminator;
    return { bytes, start, end: this.at };
  }
}
