// Tokenizes batches of texts on worker threads. Results come back in submission order per caller (each call is its
// own promise), so the packer sees documents in file order whatever thread finished first. threads = 0 encodes on the
// calling thread (same tokens; for tests and tiny jobs).
import { Worker } from "node:worker_threads";
import { encodeBatch, type EncodedBatch, type EncoderName } from "./encoders.js";

type Reply = { id: number; ok: true; tokens: Int32Array; lengths: Int32Array } | { id: number; ok: false; message: string };

export class TokenizerError extends Error {
  constructor(readonly tokenizer: string, reason: string) {
    super(`tokenizer ${tokenizer} failed: ${reason}`);
    this.name = "TokenizerError";
  }
}

interface Slot {
  worker: Worker;
  busy: number;
}

export class TokenizerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (b: EncodedBatch) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  constructor(
    readonly name: EncoderName,
    readonly threads: number,
  ) {
    // Sources run under tsx (tests, benchmarks) load the .ts worker through tsx; the built package loads the .js.
    const ts = import.meta.url.endsWith(".ts");
    const url = new URL(ts ? "./tokenize-worker-tsx.mjs" : "./tokenize-worker.js", import.meta.url);
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(url);
      worker.unref();
      const slot: Slot = { worker, busy: 0 };
      worker.on("message", (r: Reply) => {
        slot.busy--;
        const w = this.waiting.get(r.id);
        if (w === undefined) return;
        this.waiting.delete(r.id);
        if (r.ok) w.resolve({ tokens: r.tokens, lengths: r.lengths });
        else w.reject(new TokenizerError(name, r.message));
      });
      worker.on("error", (err) => {
        for (const [, w] of this.waiting) w.reject(new TokenizerError(name, err.message));
        this.waiting.clear();
      });
      this.slots.push(slot);
    }
  }

  encode(texts: string[]): Promise<EncodedBatch> {
    if (this.slots.length === 0) {
      try {
        return Promise.resolve(encodeBatch(this.name, texts));
      } catch (err) {
        return Promise.reject(new TokenizerError(this.name, err instanceof Error ? err.message : String(err)));
      }
    }
    // The least busy worker; ties to the first.
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      slot.worker.postMessage({ id, name: this.name, texts });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
