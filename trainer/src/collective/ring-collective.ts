// The collectives over a TCP ring: each rank sends only to rank + 1 and receives only from rank − 1.
// All-reduce is reduce-scatter then all-gather per bucket, so every rank ends with the same bytes in a fixed order.
// Any link failure fails the whole collective and closes both links, so the failure travels round the ring at once
// instead of waiting for each rank's timeout.
import type { Range, ShardCollective } from "./collective.js";
import { CollectiveMismatchError, PeerLostError } from "./errors.js";
import type { Frame } from "./frame-codec.js";
import type { FramedSocket } from "./framed-socket.js";
import { allGatherStep, chunkBounds, gatherBlockStep, nextRank, planBuckets, reduceScatterStep, type Bucket } from "./ring-schedule.js";

// 16 MiB, like DDP's 25 MB order of size; bench-trainer allreduce measures 4, 16 and 64 MiB (on a loaded 2-core host the
// differences were within its noise).
export const DEFAULT_BUCKET_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PIECE_BYTES = 1024 * 1024;

const KIND = { allReduceSum: 1, allGather: 2, broadcast: 3, barrier: 4, reduceScatterSum: 5, allGatherOwned: 6 } as const;
type Kind = keyof typeof KIND;

/** The tag of every frame of one collective call: its kind and its sequence number (the same on every rank). */
const tagOf = (kind: Kind, seq: number) => ((KIND[kind] << 24) | (seq & 0xffffff)) >>> 0;
const describeTag = (tag: number) => `${Object.entries(KIND).find(([, v]) => v === tag >>> 24)?.[0] ?? `kind ${tag >>> 24}`} #${tag & 0xffffff}`;

export interface RingLinks {
  /** To rank + 1: only sent on. */
  next: FramedSocket;
  /** From rank − 1: only received from. */
  prev: FramedSocket;
}

export interface RingOptions {
  /** Bucket size for all-reduce and broadcast segments (default 16 MiB). */
  bucketBytes?: number;
  /** Frame size within a chunk (default 1 MiB, the best of 64 KiB–4 MiB in bench-trainer allreduce). */
  pieceBytes?: number;
  /** Called after close(), to release what the connector opened (the listening server). */
  onClose?: () => Promise<void>;
}

export class RingCollective implements ShardCollective {
  private readonly bucketElements: number;
  private readonly pieceElements: number;
  private scratch: Float32Array = new Float32Array(0);
  private chain: Promise<unknown> = Promise.resolve();
  private seq = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly links: RingLinks,
    private readonly options: RingOptions = {},
  ) {
    if (worldSize < 2) throw new RangeError("a ring needs at least two ranks; use SoloCollective for one");
    this.bucketElements = Math.max(1, Math.floor((options.bucketBytes ?? DEFAULT_BUCKET_BYTES) / 4));
    this.pieceElements = Math.max(1, Math.floor((options.pieceBytes ?? DEFAULT_PIECE_BYTES) / 4));
    const lost = (err: Error) => this.fail(err);
    links.next.onLost(lost);
    links.prev.onLost(lost);
  }

  /** Bytes this rank has written to rank + 1 so far (frame headers and the connection's hello included). */
  get bytesSent(): number {
    return this.links.next.socket.bytesWritten;
  }

  /** The error every call rejects with once a link failed; undefined while healthy. */
  get error(): Error | undefined {
    return this.failure;
  }

  allReduceSum(parts: Float32Array[]): Promise<void> {
    return this.run("allReduceSum", async (tag) => {
      const buckets = planBuckets(
        parts.map((p) => p.length),
        this.bucketElements,
      );
      for (const bucket of buckets) await this.reduceBucket(tag, parts, bucket);
    });
  }

  allGather(data: Float32Array): Promise<Float32Array[]> {
    return this.run("allGather", (tag) => this.gather(tag, data));
  }

  reduceScatterSum(data: Float32Array, owned: readonly Range[]): Promise<void> {
    const chunk = this.chunksOf(data, owned);
    if (chunk instanceof Error) return Promise.reject(chunk);
    return this.run("reduceScatterSum", (tag) => this.ringReduceScatter(tag, data, chunk));
  }

  allGatherOwned(data: Float32Array, owned: readonly Range[]): Promise<void> {
    const chunk = this.chunksOf(data, owned);
    if (chunk instanceof Error) return Promise.reject(chunk);
    return this.run("allGatherOwned", (tag) => this.ringAllGather(tag, data, chunk));
  }

  broadcast(data: Float32Array, root: number): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) return Promise.reject(new RangeError(`broadcast root ${root} is not a rank of ${this.worldSize}`));
    return this.run("broadcast", async (tag) => {
      const n = this.worldSize;
      const forward = nextRank(this.rank, n) !== root;
      const segments = Math.max(1, Math.ceil(data.length / this.bucketElements));
      const sends = new PendingSends();
      for (let s = 0; s < segments; s++) {
        const view = data.subarray(s * this.bucketElements, Math.min(data.length, (s + 1) * this.bucketElements));
        if (this.rank === root) {
          sends.add(this.links.next.send(tag, bytesOf(view)));
        } else {
          const body = this.expect(await this.links.prev.recv(), tag, view.length);
          view.set(floatsOf(body));
          if (forward) sends.add(this.links.next.send(tag, body));
        }
      }
      await sends.all();
    });
  }

  barrier(): Promise<void> {
    // An all-gather of nothing: no rank can finish it before every rank has sent its (empty) block.
    return this.run("barrier", async (tag) => {
      await this.gather(tag, new Float32Array(0));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    this.failure ??= new PeerLostError(this.rank, undefined, "the collective was closed");
    await Promise.all([this.links.next.close(), this.links.prev.close()]);
    await this.options.onClose?.();
  }

  /** Drops both links at once, as a crashed process would: pending and later calls here and on every other rank reject. */
  abort(reason = "aborted by this rank"): void {
    this.fail(new PeerLostError(this.rank, undefined, reason));
  }

  /** Runs collectives one at a time in call order: the order, not the timing, must match across ranks. */
  private run<T>(kind: Kind, body: (tag: number) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(this.failure ?? new PeerLostError(this.rank, undefined, "the collective was closed"));
    const tag = tagOf(kind, this.seq++);
    const result = this.chain.then(() => {
      if (this.failure !== undefined) throw this.failure;
      return body(tag);
    });
    this.chain = result.catch((err: unknown) => {
      // A mismatch found here is fatal for the ring too: the others must not wait on a rank that gave up.
      if (err instanceof CollectiveMismatchError) this.fail(err);
    });
    return result;
  }

  /** Fails the ring with `err` (another link of this rank was lost): pending and later calls reject with it. */
  fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.links.next.fail(err);
    this.links.prev.fail(err);
  }

  private async reduceBucket(tag: number, parts: Float32Array[], bucket: Bucket): Promise<void> {
    const only = bucket.segments.length === 1 ? bucket.segments[0] : undefined;
    // A bucket inside one part is reduced in place; one spanning parts is packed into a reused scratch buffer.
    let buffer: Float32Array;
    if (only !== undefined) buffer = (parts[only.part] as Float32Array).subarray(only.start, only.end);
    else {
      if (this.scratch.length < bucket.length) this.scratch = new Float32Array(this.bucketElements);
      buffer = this.scratch.subarray(0, bucket.length);
      let at = 0;
      for (const s of bucket.segments) {
        buffer.set((parts[s.part] as Float32Array).subarray(s.start, s.end), at);
        at += s.end - s.start;
      }
    }
    await this.ringAllReduce(tag, buffer);
    if (only === undefined) {
      let at = 0;
      for (const s of bucket.segments) {
        (parts[s.part] as Float32Array).set(buffer.subarray(at, at + s.end - s.start), s.start);
        at += s.end - s.start;
      }
    }
  }

  /**
   * Reduce-scatter then all-gather, streamed in pieces: each piece is forwarded as soon as it is added (or copied),
   * so the wire and the additions overlap. Chunk c is summed in the order of reductionOrder(c).
   * A view stays referenced by its pending write while later pieces are received; it is only overwritten (chunks
   * of the all-gather) after its bytes have travelled round the ring, so the write has already completed.
   */
  private async ringAllReduce(tag: number, buffer: Float32Array): Promise<void> {
    const n = this.worldSize;
    const sends = new PendingSends();
    const pieces = (c: number) => this.pieces(buffer, chunkBounds(buffer.length, n, c));
    for (const piece of pieces(reduceScatterStep(this.rank, n, 0).send)) sends.add(this.links.next.send(tag, bytesOf(piece)));
    for (let step = 0; step < n - 1; step++) {
      for (const target of pieces(reduceScatterStep(this.rank, n, step).recv)) {
        addInto(target, floatsOf(this.expect(await this.links.prev.recv(), tag, target.length)));
        // The next reduce-scatter step sends what this one received; after the last, it is the all-gather's first send.
        sends.add(this.links.next.send(tag, bytesOf(target)));
      }
    }
    for (let step = 0; step < n - 1; step++) {
      for (const target of pieces(allGatherStep(this.rank, n, step).recv)) {
        const body = this.expect(await this.links.prev.recv(), tag, target.length);
        target.set(floatsOf(body));
        if (step < n - 2) sends.add(this.links.next.send(tag, body));
      }
    }
    await sends.all();
  }

  /** Ring chunk c is the range its final holder, rank c − 1, owns (reduceScatterStep's convention). */
  private chunksOf(data: Float32Array, owned: readonly Range[]): ((c: number) => [number, number]) | RangeError {
    const n = this.worldSize;
    if (owned.length !== n) return new RangeError(`${owned.length} owned ranges for a world of ${n}`);
    for (const [r, [start, end]] of owned.entries()) {
      if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= data.length)) return new RangeError(`rank ${r}'s range [${start}, ${end}) is not inside a buffer of ${data.length}`);
    }
    return (c) => {
      const [start, end] = owned[(c + n - 1) % n] as Range;
      return [start, end];
    };
  }

  /** The first half of ringAllReduce on arbitrary chunks: chunk c ends complete on rank c − 1, summed c, c+1, …. */
  private async ringReduceScatter(tag: number, buffer: Float32Array, chunk: (c: number) => [number, number]): Promise<void> {
    const n = this.worldSize;
    const sends = new PendingSends();
    for (const piece of this.pieces(buffer, chunk(reduceScatterStep(this.rank, n, 0).send))) sends.add(this.links.next.send(tag, bytesOf(piece)));
    for (let step = 0; step < n - 1; step++) {
      for (const target of this.pieces(buffer, chunk(reduceScatterStep(this.rank, n, step).recv))) {
        addInto(target, floatsOf(this.expect(await this.links.prev.recv(), tag, target.length)));
        if (step < n - 2) sends.add(this.links.next.send(tag, bytesOf(target)));
      }
    }
    await sends.all();
  }

  /** The second half: rank r starts with chunk r + 1 complete and ends with every chunk. */
  private async ringAllGather(tag: number, buffer: Float32Array, chunk: (c: number) => [number, number]): Promise<void> {
    const n = this.worldSize;
    const sends = new PendingSends();
    for (const piece of this.pieces(buffer, chunk(allGatherStep(this.rank, n, 0).send))) sends.add(this.links.next.send(tag, bytesOf(piece)));
    for (let step = 0; step < n - 1; step++) {
      for (const target of this.pieces(buffer, chunk(allGatherStep(this.rank, n, step).recv))) {
        const body = this.expect(await this.links.prev.recv(), tag, target.length);
        target.set(floatsOf(body));
        if (step < n - 2) sends.add(this.links.next.send(tag, body));
      }
    }
    await sends.all();
  }

  /** Views of buffer[start, end) of at most pieceElements each; one (maybe empty) piece at least, so frames always flow. */
  private pieces(buffer: Float32Array, [start, end]: [number, number]): Float32Array[] {
    const out: Float32Array[] = [];
    for (let at = start; at < end || out.length === 0; at += this.pieceElements) out.push(buffer.subarray(at, Math.min(end, at + this.pieceElements)));
    return out;
  }

  private async gather(tag: number, data: Float32Array): Promise<Float32Array[]> {
    const n = this.worldSize;
    const blocks: (Float32Array | undefined)[] = new Array<Float32Array | undefined>(n).fill(undefined);
    blocks[this.rank] = data;
    for (let step = 0; step < n - 1; step++) {
      const { send, recv } = gatherBlockStep(this.rank, n, step);
      const [, frame] = await Promise.all([this.links.next.send(tag, bytesOf(blocks[send] as Float32Array)), this.links.prev.recv()]);
      blocks[recv] = floatsOf(this.expect(frame, tag, undefined));
    }
    return blocks as Float32Array[];
  }

  /** The frame's body, checked to belong to this call and to have the expected number of floats. */
  private expect(frame: Frame, tag: number, floats: number | undefined): Uint8Array {
    if (frame.tag !== tag) throw new CollectiveMismatchError(this.rank, `expected a frame of ${describeTag(tag)}, rank ${this.links.prev.peer} sent ${describeTag(frame.tag)}`);
    if (frame.body.length % 4 !== 0 || (floats !== undefined && frame.body.length !== floats * 4)) {
      throw new CollectiveMismatchError(this.rank, `${describeTag(tag)}: expected ${floats ?? "whole"} floats, rank ${this.links.prev.peer} sent ${frame.body.length} bytes`);
    }
    return frame.body;
  }
}

/** Writes in flight; a failed one also fails the link, so the error surfaces in a receive or at all(), never unhandled. */
class PendingSends {
  private readonly list: Promise<void>[] = [];
  add(p: Promise<void>): void {
    p.catch(() => undefined);
    this.list.push(p);
  }
  async all(): Promise<void> {
    await Promise.all(this.list);
  }
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** Frame bodies start at offset 0 of their own buffer (FrameDecoder), so they can be viewed without a copy. */
const floatsOf = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);

/** dst += src, element-wise. A float32 sum computed in double and rounded on store is the exact float32 sum. */
function addInto(dst: Float32Array, src: Float32Array): void {
  const n = dst.length;
  for (let i = 0; i < n; i++) dst[i] = (dst[i] as number) + (src[i] as number);
}
