// The data loader for token shards: each rank asks for its slice of global batch `step` and gets packed samples,
// identical to what an uninterrupted run on any world size would have fed that step.
import { fingerprint } from "../manifest/fingerprint.js";
import type { Manifest } from "../manifest/manifest-schema.js";
import { readManifest } from "../manifest/read-manifest.js";
import { GlobalOrder, type EpochOrder, type SampleLocation } from "../order/epoch-order.js";
import { samplesInShard, type PackedSample } from "../order/packing.js";
import { FRESH_START, sequencesFor, type ResumeAnchor } from "../order/partition.js";
import { anchorOf, stateAt, type ResumeState } from "../resume/resume-state.js";
import type { ObjectStore } from "../source/object-store.js";
import { ShardCache } from "./shard-cache.js";
import { loadShard, type LoadedShard } from "./shard-reader.js";
import { assertSameDataset } from "../manifest/fingerprint.js";

/** Where a rank stands in the job's sample stream: what both loaders (token shards and raw text) are given. */
export interface StreamPlace {
  jobUid: string;
  attempt: number;
  contextLength: number;
  globalBatch: number;
  rank: number;
  worldSize: number;
  seed: number;
  shuffle: boolean;
}

export interface LoaderConfig extends StreamPlace {
  /** Shards shuffled together; bounds the working set each rank downloads. */
  windowShards: number;
  /** Memory budget for shards held and prefetched by this rank (data.prefetchBytes). */
  cacheBytes: number;
  /** Steps ahead whose shards are fetched in the background. */
  prefetchSteps: number;
  /** Windows after the current one whose shards are fetched in the background, budget permitting (default 2). */
  prefetchWindows?: number;
  /** The job's final step (training.steps − 1), when known: nothing past it is prefetched, so the job's end downloads no shard it never reads. */
  lastStep?: number;
}

export interface LocatedSample extends SampleLocation {
  /** Index in the global sample stream across epochs. */
  global: number;
  epoch: number;
}

export interface Batch {
  step: number;
  rank: number;
  locations: LocatedSample[];
  /** Samples in rank order; their tokens are views of one contiguous Int32Array of samples x (contextLength + 1). */
  samples: PackedSample[];
}

export class TokenDataLoader {
  readonly fingerprint: string;
  readonly order: GlobalOrder;
  readonly anchor: ResumeAnchor;
  private readonly cache: ShardCache<LoadedShard>;

  constructor(
    private readonly store: ObjectStore,
    readonly manifest: Manifest,
    readonly config: LoaderConfig,
    resume?: ResumeState,
    /** Precomputed fingerprint, when the caller already hashed the manifest. */
    knownFingerprint?: string,
  ) {
    this.fingerprint = knownFingerprint ?? fingerprint(manifest);
    if (resume !== undefined) assertSameDataset(resume.fingerprint, this.fingerprint);
    this.anchor = resume === undefined ? FRESH_START : anchorOf(resume);
    this.order = new GlobalOrder(
      manifest.shards.map((s) => samplesInShard(s.tokens, s.documents, config.contextLength)),
      { seed: config.seed, shuffle: config.shuffle, windowShards: config.windowShards },
    );
    this.cache = new ShardCache(config.cacheBytes, async (i) => {
      const entry = this.manifest.shards[i];
      if (entry === undefined) throw new RangeError(`no shard ${i}`);
      const value = await loadShard(this.store, entry);
      return { value, bytes: value.bytes };
    });
  }

  static async open(store: ObjectStore, config: LoaderConfig, resume?: ResumeState): Promise<TokenDataLoader> {
    return new TokenDataLoader(store, await readManifest(store), config, resume);
  }

  // Each batch also plans the steps it prefetches for; keep the recent plans rather than recompute them.
  private readonly plans = new Map<number, LocatedSample[]>();

  /** Which samples this rank reads at `step`: pure, no I/O. */
  plan(step: number): LocatedSample[] {
    const hit = this.plans.get(step);
    if (hit !== undefined) return hit;
    const planned = this.computePlan(step);
    this.plans.set(step, planned);
    if (this.plans.size > this.config.prefetchSteps + 2) for (const k of this.plans.keys()) if (k < step - 1) this.plans.delete(k);
    return planned;
  }

  private computePlan(step: number): LocatedSample[] {
    const range = sequencesFor({ step, rank: this.config.rank, worldSize: this.config.worldSize, globalBatch: this.config.globalBatch, anchor: this.anchor });
    const out: LocatedSample[] = [];
    for (let g = range.start; g < range.start + range.count; g++) {
      // Built field by field: object spreads per sample were a visible share of the loader's CPU time.
      const epoch = this.order.epochOf(g);
      const at = this.order.epoch(epoch).sampleAt(g - epoch * this.order.samplesPerEpoch);
      out.push({ shard: at.shard, sample: at.sample, global: g, epoch });
    }
    return out;
  }

  async batch(step: number): Promise<Batch> {
    // Give prefetches in flight a turn of the event loop: a consumer whose batches all come from the cache would
    // otherwise run on microtasks alone and starve the sockets, so the next window would only load once it is needed.
    if (this.cache.inFlight > 0) await new Promise((resolve) => setImmediate(resolve));
    const locations = this.plan(step);
    const shards = [...new Set(locations.map((l) => l.shard))];
    const loaded = new Map<number, LoadedShard>();
    try {
      const acquiring = Promise.all(shards.map(async (s) => loaded.set(s, await this.cache.acquire(s))));
      // Queue the look-ahead before waiting, so a cold start downloads the next windows alongside this one.
      this.prefetchAfter(step);
      await acquiring;
      // One buffer for the batch: each sample's tokens are a view of its slice.
      const width = this.config.contextLength + 1;
      const buffer = new Int32Array(width * locations.length);
      const samples = locations.map((l, i) => {
        const shard = loaded.get(l.shard);
        if (shard === undefined) throw new Error(`shard ${l.shard} was not loaded`);
        return shard.sample(l.sample, this.config.contextLength, this.manifest.eosToken, buffer.subarray(i * width, (i + 1) * width));
      });
      return { step, rank: this.config.rank, locations, samples };
    } finally {
      for (const s of loaded.keys()) this.cache.release(s);
    }
  }

  /** The state a checkpoint taken after `step` steps resumes from; embed it in the checkpoint manifest. */
  stateAt(step: number): ResumeState {
    return stateAt(step, {
      jobUid: this.config.jobUid,
      attempt: this.config.attempt,
      fingerprint: this.fingerprint,
      seed: this.config.seed,
      samplesPerEpoch: this.order.samplesPerEpoch,
      globalBatch: this.config.globalBatch,
      worldSize: this.config.worldSize,
      contextLength: this.config.contextLength,
      anchor: this.anchor,
    });
  }

  get cachedBytes(): number {
    return this.cache.bytes;
  }

  /** (epoch, window) of a planned sample as one ordinal, to compare positions across epochs. */
  private windowOrdinal(l: LocatedSample): { epoch: EpochOrder; window: number; ordinal: number } {
    const epoch = this.order.epoch(l.epoch);
    const window = epoch.windowOf(l.global - l.epoch * this.order.samplesPerEpoch);
    return { epoch, window, ordinal: l.epoch * epoch.windows + window };
  }

  private endOrdinal: number | undefined;

  /** The window of the job's last sample on this rank; computed once, since lastStep is fixed. */
  private lastWindowOrdinal(): number {
    if (this.endOrdinal === undefined) {
      const lastStep = this.config.lastStep;
      const end = lastStep === undefined || lastStep < this.anchor.step ? undefined : this.computePlan(lastStep).at(-1);
      this.endOrdinal = end === undefined ? Number.POSITIVE_INFINITY : this.windowOrdinal(end).ordinal;
    }
    return this.endOrdinal;
  }

  private prefetchAfter(step: number): void {
    const want: number[] = [];
    const lastStep = this.config.lastStep ?? Number.POSITIVE_INFINITY;
    for (let s = step + 1; s <= Math.min(step + this.config.prefetchSteps, lastStep); s++) for (const l of this.plan(s)) want.push(l.shard);
    // The windows after the current one, so their downloads overlap with reading this one instead of stalling at
    // the edge; nearest first, so a tight budget still fetches what is needed soonest.
    const last = this.plan(step).at(-1);
    if (last !== undefined) {
      const { epoch: order, window: at, ordinal } = this.windowOrdinal(last);
      const endOrdinal = this.lastWindowOrdinal();
      want.push(...order.windowShardsAt(at));
      for (let k = 1; k <= (this.config.prefetchWindows ?? 2) && ordinal + k <= endOrdinal; k++) {
        const w = at + k;
        want.push(...(w < order.windows ? order.windowShardsAt(w) : this.order.epoch(last.epoch + 1).windowShardsAt(w - order.windows)));
      }
    }
    const current = this.plan(step).map((l) => l.shard);
    this.cache.retain([...current, ...want]);
    for (const shard of new Set(want)) {
      const entry = this.manifest.shards[shard];
      if (entry !== undefined && !this.cache.prefetch(shard, entry.bin.bytes + entry.idx.bytes)) return;
    }
  }
}
