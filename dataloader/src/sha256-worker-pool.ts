// SHA-256 of large buffers on worker threads. Node 20's WebCrypto digest does most of its hashing on the calling thread
// (measured: 450 of 800 ms for 256 MiB blocked the event loop), so a loader verifying shards on the main thread stalled
// its sockets and its consumer. The bytes are transferred to a worker and back, never copied.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

// Plain CommonJS run with eval: no file to resolve, the same under tsx and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
parentPort.on("message", (m) => {
  const hex = createHash("sha256").update(new Uint8Array(m.buffer, m.byteOffset, m.byteLength)).digest("hex");
  parentPort.postMessage({ id: m.id, hex, buffer: m.buffer }, [m.buffer]);
});
`;

interface Reply {
  id: number;
  hex: string;
  buffer: ArrayBuffer;
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class HashWorkerError extends Error {
  constructor(reason: string) {
    super(`sha256 worker failed: ${reason}`);
    this.name = "HashWorkerError";
  }
}

/** True when `bytes` spans its whole, unshared ArrayBuffer, so moving that buffer moves nothing else (a pooled Buffer would). */
export function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

export class Sha256WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;

  constructor(readonly threads: number) {}

  /**
   * Hashes `bytes`, whose buffer is moved to a worker and back: use the returned view, `bytes` is detached meanwhile.
   * `bytes` must own its buffer (`ownsBuffer`).
   */
  async hash(bytes: Uint8Array): Promise<{ hex: string; bytes: Uint8Array }> {
    if (!ownsBuffer(bytes)) throw new RangeError("sha256 worker pool: the bytes must span their whole ArrayBuffer");
    const slot = this.slot();
    const id = this.nextId++;
    const buffer = bytes.buffer as ArrayBuffer;
    const reply = await new Promise<Reply>((resolve, reject) => {
      // Ref'd only while it has work: an idle pool never keeps the process alive, a busy one does.
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, buffer, byteOffset: 0, byteLength: bytes.byteLength }, [buffer]);
    });
    return { hex: reply.hex, bytes: new Uint8Array(reply.buffer) };
  }

  private slot(): Slot {
    const idle = this.slots.find((s) => s.pending.size === 0);
    if (idle !== undefined) return idle;
    if (this.slots.length >= this.threads) return this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    // Started on first use and unref'd: a process that never verifies a shard pays nothing, and none waits on them to exit.
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, pending: new Map() };
    worker.on("message", (r: Reply) => {
      const p = slot.pending.get(r.id);
      slot.pending.delete(r.id);
      if (slot.pending.size === 0) worker.unref();
      p?.resolve(r);
    });
    worker.on("error", (err) => {
      for (const [, p] of slot.pending) p.reject(new HashWorkerError(err.message));
      slot.pending.clear();
      this.slots.splice(this.slots.indexOf(slot), 1);
    });
    // After the listeners, which ref it again.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }
}

/** The process-wide pool: two threads at most, as shards of one window arrive together. */
export const sha256Workers = new Sha256WorkerPool(Math.max(1, Math.min(2, availableParallelism())));
