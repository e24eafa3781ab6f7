// Length-prefixed frames on a byte stream: an 8-byte header (u32 LE body length, u32 LE tag), then the body.
// The tag names the collective a frame belongs to, so ranks that call collectives out of step fail loudly.

export const FRAME_HEADER_BYTES = 8;
/** Frames larger than this are refused: a corrupt or foreign stream, not a bucket. */
export const MAX_FRAME_BYTES = 2 ** 31 - 1;

export interface Frame {
  tag: number;
  body: Uint8Array;
}

export class FrameFormatError extends Error {
  constructor(readonly reason: string) {
    super(`bad frame: ${reason}`);
    this.name = "FrameFormatError";
  }
}

export function encodeFrameHeader(bodyBytes: number, tag: number): Uint8Array {
  if (!Number.isInteger(bodyBytes) || bodyBytes < 0 || bodyBytes > MAX_FRAME_BYTES) throw new FrameFormatError(`body of ${bodyBytes} bytes`);
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, bodyBytes, true);
  view.setUint32(4, tag >>> 0, true);
  return header;
}

/**
 * Reassembles frames from arbitrary stream chunks. Each body is a fresh buffer at offset 0 (so it can be viewed as a
 * Float32Array), filled with one copy from the socket chunks.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Uint8Array | undefined;
  private bodyFill = 0;
  private tag = 0;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Bytes of a frame received so far but not complete: zero between frames. */
  get partialBytes(): number {
    return this.headerFill + this.bodyFill;
  }

  push(chunk: Uint8Array): Frame[] {
    const out: Frame[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.body === undefined) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        const view = new DataView(this.header.buffer);
        const length = view.getUint32(0, true);
        if (length > this.maxFrameBytes) throw new FrameFormatError(`body of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
        this.tag = view.getUint32(4, true);
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      }
      const take = Math.min(this.body.length - this.bodyFill, chunk.length - at);
      this.body.set(chunk.subarray(at, at + take), this.bodyFill);
      this.bodyFill += take;
      at += take;
      if (this.bodyFill === this.body.length) {
        out.push({ tag: this.tag, body: this.body });
        this.body = undefined;
        this.headerFill = 0;
        this.bodyFill = 0;
      }
    }
    return out;
  }
}
