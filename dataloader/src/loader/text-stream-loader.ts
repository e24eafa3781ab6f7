// Streams raw text (JSONL, .txt, gzip) to one data-parallel rank: a bounded pipeline of ranged reads, record splitting,
// tokenization on worker threads, packing, and a ready queue of samples, with weighted mixing of several streams.
// Each rank reads its own files; its position is a cursor per stream (file, byte offset, packer carry, epoch, draws),
// so a resume seeks straight to the byte and emits exactly the samples an uninterrupted run emits.
import type { TokenizerName } from "@gantry/crds";
import { FingerprintMismatchError, InvalidResumeStateError, StreamOrderError, StreamRepartitionError } from "../errors.js";
import { drawStreams, normalizeWeights } from "../mix/mix-schedule.js";
import type { PackedSample } from "../order/packing.js";
import { FRESH_START, sequencesFor, type ResumeAnchor } from "../order/partition.js";
import { anchorOf, stateAt, type RankCursor, type ResumeState } from "../resume/resume-state.js";
import type { ObjectStore } from "../source/object-store.js";
import type { SplitSpec } from "../text/held-out.js";
import { documentBatches, type DocumentBatch, type DocumentEnd } from "../text/text-documents-reader.js";
import { TextPacker } from "../text/text-packer.js";
import { listTextShards, rankShards, textFingerprint, type TextFormat, type TextShard } from "../text/text-shards.js";
import { TokenizerPool } from "../text/tokenizer-pool.js";
import { tokenizerFor } from "../text/tokenizers.js";
import type { EncodedBatch } from "../text/encoders.js";
import { PipelineMetrics, type PipelineSnapshot } from "./pipeline-metrics.js";
import type { StreamPlace } from "./token-loader.js";

export interface TextStreamSource {
  /** Names the stream in cursors; unique within a mix. */
  name: string;
  store: ObjectStore;
  format: TextFormat;
  /** JSONL field with the text (default "text"). */
  textField?: string;
  /** Share of samples drawn from this stream (normalized over the mix; default 1). */
  weight?: number;
  /** The files, when known; otherwise they are listed once at open (sorted by key). */
  shards?: TextShard[];
}

export interface TextLoaderConfig extends StreamPlace {
  tokenizer: TokenizerName;
  /** Bytes the pipeline may hold: read-ahead chunks, text and tokens in flight, ready samples (data.prefetchBytes). */
  prefetchBytes: number;
  /** Ranged-GET size for raw text (default 4 MiB). */
  chunkBytes?: number;
  /** Ranged GETs in flight per stream (default 4). */
  readAhead?: number;
  /** Tokenizer worker threads (default 2; 0 tokenizes on the calling thread). */
  tokenizerThreads?: number;
  /** Held-out validation split; undefined reads every document. */
  split?: SplitSpec;
  /** Longest document accepted, in bytes (default 64 MiB); a longer one fails naming the file and byte. */
  maxDocumentBytes?: number;
  /** Step-boundary states kept for stateAt (default 16). */
  keepStates?: number;
}

export interface TextBatch {
  step: number;
  rank: number;
  /** Index into the mix's streams of each sample. */
  streams: number[];
  /** Samples in draw order; tokens are views of one Int32Array of samples × (contextLength + 1). */
  samples: PackedSample[];
}

interface Cursor {
  shard: string;
  epoch: number;
  byteOffset: number;
  carry: Int32Array;
  carryDocumentStarts: number[];
}

interface Ready {
  sample: PackedSample;
  cursor: Cursor;
}

const DEFAULT_CHUNK = 4 << 20;

/** One stream's producer: documents → tokenizer → packer → ready queue, paused while the pipeline is over budget. */
class StreamProducer {
  readonly queue: Ready[] = [];
  private head = 0;
  waiter: (() => void) | undefined;
  failure: unknown;
  private stopped = false;

  constructor(
    private readonly loader: TextStreamLoader,
    private readonly batches: AsyncGenerator<DocumentBatch>,
    private readonly packer: TextPacker,
    private readonly pool: TokenizerPool,
    private readonly ahead: number,
  ) {}

  get length(): number {
    return this.queue.length - this.head;
  }

  shift(): Ready | undefined {
    const r = this.queue[this.head];
    if (r === undefined) return undefined;
    this.queue[this.head++] = undefined as unknown as Ready;
    // Compact now and then rather than shift() per sample (O(n) each).
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return r;
  }

  stop(): void {
    this.stopped = true;
    void this.batches.return(undefined);
  }

  async run(): Promise<void> {
    const pending: Promise<{ batch: DocumentBatch; enc: EncodedBatch }>[] = [];
    try {
      while (!this.stopped) {
        // Keep `ahead` batches at the tokenizer so every worker thread has one; stop reading while over budget.
        while (pending.length < this.ahead && !this.stopped && (pending.length === 0 || this.loader.hasRoom())) {
          if (pending.length === 0) await this.loader.waitForRoom(this);
          if (this.stopped) return;
          const next = await this.batches.next();
          if (next.done === true) return;
          const batch = next.value;
          this.loader.pendingTextBytes += batch.bytes;
          const p = this.pool.encode(batch.texts).then((enc) => ({ batch, enc }));
          p.catch(() => undefined);
          pending.push(p);
        }
        const first = pending.shift();
        if (first === undefined) continue;
        const { batch, enc } = await first;
        this.loader.pendingTextBytes -= batch.bytes;
        this.loader.metrics.tokens += enc.tokens.length;
        this.pack(batch.ends, enc);
        this.wake();
      }
    } catch (err) {
      this.failure = err;
      this.wake();
    }
  }

  private pack(ends: DocumentEnd[], enc: EncodedBatch): void {
    let at = 0;
    const width = this.packer.contextLength + 1;
    for (let i = 0; i < ends.length; i++) {
      const n = enc.lengths[i] ?? 0;
      const end = ends[i] as DocumentEnd;
      this.packer.push(enc.tokens.subarray(at, at + n));
      at += n;
      for (let s = this.packer.take(); s !== undefined; s = this.packer.take()) {
        const carry = this.packer.carry();
        this.queue.push({ sample: s, cursor: { shard: end.shard, epoch: end.epoch, byteOffset: end.end, carry: carry.tokens, carryDocumentStarts: carry.documentStarts } });
        this.loader.readyBytes += 4 * width;
      }
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

export class TextStreamLoader {
  readonly fingerprint: string;
  readonly anchor: ResumeAnchor;
  readonly metrics: PipelineMetrics;
  readonly shares: number[];
  readonly eosToken: number;
  /** Bytes of text handed to the tokenizer and not yet packed. */
  pendingTextBytes = 0;
  /** Bytes of samples in the ready queues. */
  readyBytes = 0;
  private readonly producers: StreamProducer[] = [];
  private readonly pool: TokenizerPool;
  private readonly roomWaiters: (() => void)[] = [];
  private readonly counts: number[];
  private readonly cursors: Cursor[];
  private readonly states = new Map<number, { counts: number[]; cursors: Cursor[] }>();
  private nextStep: number;
  private last: TextBatch | undefined;
  private readonly queueBudget: number;

  private constructor(
    readonly streams: readonly (TextStreamSource & { shards: TextShard[] })[],
    readonly config: TextLoaderConfig,
    resume: ResumeState | undefined,
  ) {
    const names = new Set(streams.map((s) => s.name));
    if (names.size !== streams.length) throw new RangeError(`stream names must be unique: ${streams.map((s) => s.name).join(", ")}`);
    this.shares = normalizeWeights(streams.map((s) => s.weight ?? 1));
    const tokenizer = tokenizerFor(config.tokenizer);
    this.eosToken = tokenizer.eosToken;
    this.fingerprint = textFingerprint(
      streams.map((s) => ({ name: s.name, weight: s.weight ?? 1, format: s.format, textField: s.textField ?? "text", shards: s.shards })),
      config.tokenizer,
      config.split,
    );
    const chunk = config.chunkBytes ?? DEFAULT_CHUNK;
    const readAhead = config.readAhead ?? 4;
    // Read-ahead chunks are held outside the queues; the rest of the budget is for text, tokens and samples.
    this.queueBudget = config.prefetchBytes - streams.length * readAhead * chunk;
    const minimum = streams.length * (readAhead * chunk + 4 * (config.contextLength + 1) * 2);
    if (this.queueBudget <= minimum - streams.length * readAhead * chunk) {
      throw new RangeError(`prefetchBytes ${config.prefetchBytes} is too small for ${streams.length} stream(s) × ${readAhead} read-ahead chunks of ${chunk} bytes plus two samples; give at least ${minimum}`);
    }
    this.metrics = new PipelineMetrics(config.prefetchBytes);
    // Validates the batch split once (throws PartitionError for an uneven one).
    sequencesFor({ step: 0, rank: config.rank, worldSize: config.worldSize, globalBatch: config.globalBatch, anchor: FRESH_START });
    this.anchor = resume === undefined ? FRESH_START : anchorOf(resume);
    this.nextStep = this.anchor.step;
    if (resume !== undefined) {
      if (resume.fingerprint !== this.fingerprint) throw new FingerprintMismatchError(resume.fingerprint, this.fingerprint);
      if (resume.worldSize !== config.worldSize) throw new StreamRepartitionError(config.jobUid, resume.worldSize, config.worldSize);
      if (resume.contextLength !== config.contextLength) throw new InvalidResumeStateError("resume", `context length ${resume.contextLength} in the state, ${config.contextLength} now`);
    }
    this.counts = [];
    this.cursors = streams.map((s, i) => {
      const saved = resume?.cursors.find((c) => c.rank === config.rank && c.stream === s.name);
      if (resume !== undefined && saved === undefined) throw new InvalidResumeStateError("resume", `no cursor for rank ${config.rank} in stream ${s.name}`);
      this.counts[i] = saved?.samples ?? 0;
      if (saved !== undefined) return { shard: saved.shard, epoch: saved.epoch, byteOffset: saved.byteOffset, carry: Int32Array.from(saved.carry), carryDocumentStarts: [...saved.carryDocumentStarts] };
      const first = s.shards[rankShards(s.shards.length, config.seed, 0, config.rank, config.worldSize, config.shuffle)[0] ?? -1];
      return { shard: first?.path ?? "", epoch: 0, byteOffset: 0, carry: new Int32Array(0), carryDocumentStarts: [] };
    });
    this.states.set(this.anchor.step, { counts: [...this.counts], cursors: [...this.cursors] });
    this.pool = new TokenizerPool(config.tokenizer, config.tokenizerThreads ?? 2);
    const threads = Math.max(1, config.tokenizerThreads ?? 2);
    streams.forEach((s, i) => {
      const c = this.cursors[i] as Cursor;
      const list = rankShards(s.shards.length, config.seed, c.epoch, config.rank, config.worldSize, config.shuffle);
      const position = list.findIndex((k) => s.shards[k]?.path === c.shard);
      if (position === -1) throw new InvalidResumeStateError("resume", `file ${c.shard} of stream ${s.name} is not rank ${config.rank}'s in epoch ${c.epoch}`);
      const batches = documentBatches(
        {
          store: s.store,
          shards: s.shards,
          format: s.format,
          textField: s.textField ?? "text",
          seed: config.seed,
          shuffle: config.shuffle,
          rank: config.rank,
          worldSize: config.worldSize,
          split: config.split,
          maxDocumentBytes: config.maxDocumentBytes ?? 64 << 20,
          batchBytes: Math.min(256 << 10, Math.max(4096, Math.floor(this.queueBudget / (8 * streams.length * threads)))),
          chunkBytes: chunk,
          readAhead,
          onBytes: (n) => (this.metrics.bytesRead += n),
        },
        { epoch: c.epoch, position, byteOffset: c.byteOffset },
      );
      const packer = new TextPacker(config.contextLength, this.eosToken, { tokens: c.carry, documentStarts: c.carryDocumentStarts });
      this.producers.push(new StreamProducer(this, batches, packer, this.pool, threads));
    });
    for (const p of this.producers) void p.run();
  }

  /** Opens the mix; streams without `shards` are listed once here. */
  static async open(streams: readonly TextStreamSource[], config: TextLoaderConfig, resume?: ResumeState): Promise<TextStreamLoader> {
    const listed = await Promise.all(streams.map(async (s) => ({ ...s, shards: s.shards ?? (await listTextShards(s.store, s.format)) })));
    return new TextStreamLoader(listed, config, resume);
  }

  hasRoom(): boolean {
    return this.pendingTextBytes + this.readyBytes < this.queueBudget;
  }

  /** Resolves when the budget has room, or at once when the consumer is starving for this producer (no deadlock). */
  waitForRoom(p: StreamProducer): Promise<void> {
    if (this.hasRoom() || (p.length === 0 && p.waiter !== undefined)) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private freed(): void {
    for (const w of this.roomWaiters.splice(0)) w();
  }

  private async take(stream: number): Promise<Ready> {
    const p = this.producers[stream] as StreamProducer;
    let waited: bigint | undefined;
    for (;;) {
      if (p.failure !== undefined) throw p.failure;
      const r = p.shift();
      if (r !== undefined) {
        if (waited !== undefined) this.metrics.consumerWaitMs += Number(process.hrtime.bigint() - waited) / 1e6;
        this.readyBytes -= 4 * (this.config.contextLength + 1);
        this.freed();
        return r;
      }
      waited ??= process.hrtime.bigint();
      await new Promise<void>((resolve) => {
        p.waiter = resolve;
        // A producer paused on the budget must run for a starving consumer.
        this.freed();
      });
    }
  }

  /** This rank's samples of step `step`. Steps come in order from the resume step; the last one may be asked again. */
  async batch(step: number): Promise<TextBatch> {
    if (this.last !== undefined && step === this.last.step) return this.last;
    if (step !== this.nextStep) throw new StreamOrderError(step, this.nextStep);
    const perRank = sequencesFor({ step, rank: this.config.rank, worldSize: this.config.worldSize, globalBatch: this.config.globalBatch, anchor: this.anchor }).count;
    const { streams } = drawStreams(this.shares, this.counts, perRank);
    const width = this.config.contextLength + 1;
    const buffer = new Int32Array(width * perRank);
    const samples: PackedSample[] = [];
    for (let i = 0; i < streams.length; i++) {
      const s = streams[i] as number;
      const r = await this.take(s);
      const view = buffer.subarray(i * width, (i + 1) * width);
      view.set(r.sample.tokens);
      samples.push({ tokens: view, documentStarts: r.sample.documentStarts });
      this.counts[s] = (this.counts[s] ?? 0) + 1;
      this.cursors[s] = r.cursor;
    }
    this.metrics.samples += samples.length;
    this.states.set(step + 1, { counts: [...this.counts], cursors: [...this.cursors] });
    const keep = this.config.keepStates ?? 16;
    for (const k of this.states.keys()) if (k <= step + 1 - keep) this.states.delete(k);
    this.nextStep = step + 1;
    this.last = { step, rank: this.config.rank, streams, samples };
    return this.last;
  }

  /**
   * The state after `step` steps, with this rank's cursors: one of the last `keepStates` step boundaries. Gather every
   * rank's and merge them with mergeRankStates before committing.
   */
  stateAt(step: number): ResumeState {
    const at = this.states.get(step);
    if (at === undefined) throw new RangeError(`rank ${this.config.rank} has no stream position for step ${step}: it keeps steps ${[...this.states.keys()].join(", ")}`);
    const cursors: RankCursor[] = this.streams.map((s, i) => {
      const c = at.cursors[i] as Cursor;
      return { rank: this.config.rank, stream: s.name, shard: c.shard, byteOffset: c.byteOffset, carry: Array.from(c.carry), carryDocumentStarts: [...c.carryDocumentStarts], epoch: c.epoch, samples: at.counts[i] ?? 0 };
    });
    return stateAt(step, {
      jobUid: this.config.jobUid,
      attempt: this.config.attempt,
      fingerprint: this.fingerprint,
      seed: this.config.seed,
      samplesPerEpoch: 0,
      globalBatch: this.config.globalBatch,
      worldSize: this.config.worldSize,
      contextLength: this.config.contextLength,
      anchor: this.anchor,
      cursors,
    });
  }

  stats(): PipelineSnapshot {
    const chunks = this.streams.length * (this.config.readAhead ?? 4) * (this.config.chunkBytes ?? DEFAULT_CHUNK);
    return this.metrics.snapshot(this.pendingTextBytes + this.readyBytes + chunks);
  }

  async close(): Promise<void> {
    for (const p of this.producers) p.stop();
    this.freed();
    await this.pool.close();
  }
}
