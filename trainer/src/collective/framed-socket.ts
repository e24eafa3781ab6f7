// One TCP connection speaking frames: sends with backpressure (a send resolves when the bytes are in the kernel), and
// receives in order with an inactivity timeout. An error, a silence, or a closed connection that is still needed (a
// receive with nothing queued, any send) is reported once, as a PeerLostError. A peer that closes after its last
// frame is not a failure until this side asks for more: the ranks of a ring finish their last collective at
// slightly different times.
import type { Socket } from "node:net";
import { PeerLostError } from "./errors.js";
import { FrameDecoder, encodeFrameHeader, type Frame } from "./frame-codec.js";

interface Waiter {
  resolve: (frame: Frame) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class FramedSocket {
  private readonly decoder = new FrameDecoder();
  private readonly frames: Frame[] = [];
  private waiter: Waiter | undefined;
  private failure: Error | undefined;
  private closing = false;
  /** The peer closed its side: frames already queued are still delivered. */
  private ended = false;
  private readonly lostListeners: ((err: Error) => void)[] = [];

  constructor(
    readonly socket: Socket,
    /** This rank, for messages. */
    readonly rank: number,
    /** The rank at the other end, once known (inbound connections learn it from the hello frame). */
    public peer: number | undefined,
    private readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.onEnd());
    socket.on("close", (hadError: boolean) => (hadError ? this.lose("connection closed after an error") : this.onEnd()));
    socket.on("error", (err: Error) => this.lose(describe(err)));
  }

  /** Called once, with the error, when the link is lost (not when this side closes it). */
  onLost(listener: (err: Error) => void): void {
    if (this.failure !== undefined && !this.closing) listener(this.failure);
    else this.lostListeners.push(listener);
  }

  /** Fails the link from outside (the collective failed elsewhere); pending and later calls reject with `err`. */
  fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.rejectWaiter(err);
    this.socket.destroy();
  }

  /** The next frame, or a PeerLostError if nothing arrives for the timeout. */
  recv(): Promise<Frame> {
    const ready = this.frames.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(this.lose(CLOSED));
    if (this.waiter !== undefined) return Promise.reject(new Error("FramedSocket.recv called while another recv is pending"));
    return new Promise<Frame>((resolve, reject) => {
      this.waiter = { resolve, reject, timer: this.silenceTimer() };
    });
  }

  /** Writes one frame; resolves once the socket has taken all of it (the body must not change until then). */
  send(tag: number, body: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(this.lose(CLOSED));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.lose(`a send of ${body.length} bytes did not complete within ${this.timeoutMs} ms`), this.timeoutMs);
      const done = (err?: Error | null) => {
        clearTimeout(timer);
        if (err) {
          this.lose(describe(err));
          reject(this.failure ?? err);
        } else if (this.failure !== undefined) reject(this.failure);
        else resolve();
      };
      this.socket.cork();
      this.socket.write(encodeFrameHeader(body.length, tag));
      this.socket.write(Buffer.from(body.buffer, body.byteOffset, body.byteLength), done);
      this.socket.uncork();
    });
  }

  /** Ends the connection from this side after pending writes; nothing is reported as lost. */
  close(): Promise<void> {
    this.closing = true;
    if (this.failure === undefined) this.failure = new PeerLostError(this.rank, this.peer, "link closed by this rank");
    this.rejectWaiter(this.failure);
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.end();
      // A peer that never acknowledges the FIN must not hold up shutdown.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.lose(describe(err));
      return;
    }
    const waiter = this.waiter;
    if (waiter !== undefined) waiter.timer.refresh();
    for (const f of frames) this.frames.push(f);
    if (waiter !== undefined && this.frames.length > 0) {
      clearTimeout(waiter.timer);
      this.waiter = undefined;
      waiter.resolve(this.frames.shift() as Frame);
    }
  }

  private onEnd(): void {
    this.ended = true;
    if (this.waiter !== undefined && this.frames.length === 0) this.lose(CLOSED);
  }

  private silenceTimer(): NodeJS.Timeout {
    return setTimeout(() => this.lose(`no data for ${this.timeoutMs} ms`), this.timeoutMs);
  }

  private rejectWaiter(err: Error): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    this.waiter = undefined;
    clearTimeout(waiter.timer);
    waiter.reject(err);
  }

  private lose(reason: string): Error {
    if (this.failure !== undefined) return this.failure;
    const err = new PeerLostError(this.rank, this.peer, reason);
    this.failure = err;
    this.rejectWaiter(err);
    this.socket.destroy();
    for (const l of this.lostListeners.splice(0)) l(err);
    return err;
  }
}

const CLOSED = "connection closed by the peer";

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
