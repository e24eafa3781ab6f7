// The trainer's view of the dataloader: rows of contextLength + 1 tokens for a step, and the state a checkpoint
// after that step resumes from. Token shards re-partition on any world size; raw-text streams keep a cursor per
// rank, so their state is gathered from every rank before it is committed.
import { byteQuantity, type JobSpec } from "@gantry/crds";
import { TextStreamLoader, TokenDataLoader, mergeRankStates, openStore, type ObjectStore, type ResumeState, type TextStreamSource } from "@gantry/dataloader";
import type { Client } from "minio";
import type { Collective } from "../collective/collective.js";
import { ConfigError } from "../runtime/run-config.js";
import { totalSteps } from "../train/train-config.js";

export interface DataFeed {
  readonly fingerprint: string;
  rows(step: number): Promise<Int32Array[]>;
  /** The whole job's state after `step` steps, identical on every rank. Every rank must call it. */
  stateAt(step: number): Promise<ResumeState>;
  close(): Promise<void>;
}

export interface FeedPlace {
  jobUid: string;
  attempt: number;
  rank: number;
  worldSize: number;
  contextLength: number;
  collective: Collective;
}

/** data.prefetchBytes in bytes; the schema admits any quantity, the loaders need a byte count. */
function budgetOf(data: JobSpec["data"]): number {
  const bytes = byteQuantity(data.prefetchBytes);
  if (bytes === undefined) throw new ConfigError(`spec.data.prefetchBytes: "${data.prefetchBytes}" is not a byte quantity such as 256Mi`);
  return bytes;
}

/** Token-shard windows shuffled together: bounds what each rank downloads at once. */
const WINDOW_SHARDS = 16;
const PREFETCH_STEPS = 2;

function storeFor(uri: string, s3: Client | undefined): ObjectStore {
  return openStore(uri, s3 === undefined ? undefined : { client: s3 });
}

/** Training reads the spec's source or streams; validation reads validation.source, or the held-out fraction of them. */
export type FeedRole = "train" | "validation";

export async function openDataFeed(data: JobSpec["data"], training: JobSpec["training"], place: FeedPlace, s3: Client | undefined, resume: ResumeState | undefined, role: FeedRole = "train"): Promise<DataFeed> {
  const separate = role === "validation" ? data.validation?.source : undefined;
  const streams =
    separate !== undefined
      ? [{ name: "validation", source: separate, weight: 1, format: data.format }]
      : (data.streams ?? (data.source === undefined ? [] : [{ name: "main", source: data.source, weight: 1, format: data.format }]));
  if (streams.length === 0) throw new ConfigError("spec.data: give source or streams");
  const formats = new Set(streams.map((s) => s.format ?? data.format));
  const common = { jobUid: place.jobUid, attempt: place.attempt, contextLength: place.contextLength, globalBatch: training.globalBatchSize, rank: place.rank, worldSize: place.worldSize, seed: data.shuffleSeed, shuffle: data.shuffle };
  if (formats.has("tokens")) {
    if (formats.size > 1 || streams.length > 1) throw new ConfigError("spec.data.streams: mixing token-shard datasets is not supported yet; mix raw-text streams, or prepare one token dataset");
    if (data.validation?.fraction !== undefined && separate === undefined) throw new ConfigError("spec.data.validation.fraction: a held-out fraction needs raw-text streams; for token shards give validation.source");
    const stream = streams[0];
    if (stream === undefined) throw new ConfigError("spec.data: give source or streams");
    // lastStep stops read-ahead at the job's end instead of fetching the next epoch's first windows.
    const lastStep = totalSteps(training, place.contextLength) - 1;
    const loader = await TokenDataLoader.open(storeFor(stream.source, s3), { ...common, windowShards: WINDOW_SHARDS, cacheBytes: budgetOf(data), prefetchSteps: PREFETCH_STEPS, lastStep }, resume);
    return {
      fingerprint: loader.fingerprint,
      rows: async (step) => (await loader.batch(step)).samples.map((s) => s.tokens),
      stateAt: (step) => Promise.resolve(loader.stateAt(step)),
      close: () => Promise.resolve(),
    };
  }
  const sources: TextStreamSource[] = streams.map((s) => ({ name: s.name, store: storeFor(s.source, s3), format: (s.format ?? data.format) === "text" ? "text" : "jsonl", textField: data.textField, weight: s.weight }));
  const split = data.validation?.fraction === undefined || separate !== undefined ? {} : { split: { heldOutFraction: data.validation.fraction, role } };
  const loader = await TextStreamLoader.open(sources, { ...common, tokenizer: data.tokenizer, prefetchBytes: budgetOf(data), ...split }, resume);
  return {
    fingerprint: loader.fingerprint,
    rows: async (step) => (await loader.batch(step)).samples.map((s) => s.tokens),
    stateAt: async (step) => mergeRankStates(await gatherJson(place.collective, loader.stateAt(step))),
    close: () => loader.close(),
  };
}

/**
 * The fixed validation set: the first micro-batches of the validation stream, read once and reused at every
 * evaluation, so validation losses compare across steps and resumes. Undefined when the spec has no validation.
 */
export async function readValidationSet(data: JobSpec["data"], training: JobSpec["training"], place: FeedPlace, s3: Client | undefined): Promise<Int32Array[][] | undefined> {
  const v = data.validation;
  if (v === undefined) return undefined;
  const feed = await openDataFeed(data, training, place, s3, undefined, "validation");
  try {
    const rowsPerStep = training.globalBatchSize / place.worldSize;
    const steps = Math.max(1, Math.ceil((v.batches * training.microBatchSize) / rowsPerStep));
    const sets: Int32Array[][] = [];
    for (let step = 0; step < steps; step++) sets.push((await feed.rows(step)).map((r) => r.slice()));
    return sets;
  } finally {
    await feed.close();
  }
}

/** Every rank's copy of a JSON value, in rank order: lengths first, then the bytes padded to the longest. */
export async function gatherJson<T>(collective: Collective, value: T): Promise<T[]> {
  if (collective.worldSize === 1) return [value];
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const lengths = await collective.allGather(Float32Array.of(bytes.length));
  const longest = Math.max(...lengths.map((l) => l[0] ?? 0));
  const padded = new Float32Array(longest);
  padded.set(bytes);
  const all = await collective.allGather(padded);
  return all.map((a, r) => JSON.parse(new TextDecoder().decode(Uint8Array.from(a.subarray(0, lengths[r]?.[0] ?? 0)))) as T);
}
