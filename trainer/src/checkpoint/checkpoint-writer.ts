// Saves checkpoints without holding up training: save() encodes (copies) the arrays at once, then hashes, uploads,
// commits and prunes in the background. Saves run strictly one at a time in call order: a save called while another
// uploads waits its turn (none is dropped or coalesced), each with its own promise; `idle()` waits for all of them.
import { backoffDelayMs, sha256HexAsync, type ResumeState, type RetryPolicy } from "@gantry/dataloader";
import type { CheckpointStore } from "./checkpoint-store.js";
import { CheckpointInputError, CheckpointWriteError } from "./errors.js";
import { DATA_FILES, LATEST_KEY, MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE, groupSteps, planRetention, stepDirName, stepKey } from "./layout.js";
import { CHECKPOINT_FORMAT, type CheckpointManifest, type FileEntry } from "./manifest.js";
import type { NamedArray } from "./named-array.js";
import { encodeSafetensors } from "./safetensors.js";
import { receiptName, shardFileName, shardToArrays, ShardReceipt, type ShardArrays } from "./shard-files.js";

/** A ZeRO checkpoint, as rank 0 saves it: its own shard, and how every rank's shard is cut. */
export interface ShardedSave {
  zeroStage: 1 | 2 | 3;
  worldSize: number;
  /** Unique to this save (attempt and step): the receipts rank 0 waits for must carry it. */
  saveId: string;
  /** The trainable tensors in flat order. */
  tensors: readonly { name: string; shape: readonly number[] }[];
  /** Flat parameter elements [start, end) of every rank, by rank. */
  ranges: readonly (readonly [number, number])[];
  /** Rank 0's own shard. */
  own: ShardArrays;
  /** ZeRO-3: the shards hold the parameters and no model.safetensors is written. */
  paramsSharded: boolean;
}

/** What a rank other than 0 saves of a ZeRO checkpoint. */
export interface ShardSaveInput {
  step: number;
  rank: number;
  worldSize: number;
  saveId: string;
  shard: ShardArrays;
}
export interface CheckpointFields {
  tokensSeen: number;
  worldSize: number;
  /** sha256 of the canonical spec JSON. */
  configHash: string;
  datasetFingerprint: string;
  /** The dataloader state at this step (its `step` must be the checkpoint's). */
  dataState: ResumeState;
  extra?: Record<string, string | number | boolean>;
}

export interface SaveInput extends CheckpointFields {
  step: number;
  /** Model parameters, by Gantry name. */
  weights: readonly NamedArray[];
  /** Optimizer state: `m.<name>`, `v.<name>` and any scalars (ignored when sharded). */
  optimizer: readonly NamedArray[];
  /** A ZeRO checkpoint: rank 0's shard replaces optimizer.safetensors, and rank 0 waits for every other shard. */
  sharding?: ShardedSave;
}

export interface CommittedCheckpoint {
  step: number;
  /** The step directory, e.g. "step-00000100". */
  dir: string;
  /** `<root uri>/<dir>`. */
  uri: string;
  manifest: CheckpointManifest;
  /** Step directories removed by keep-K after this commit. */
  pruned: number[];
}

export interface WriterOptions {
  /** Committed checkpoints to keep, this one included (default 3). */
  keep?: number;
  /** Recorded in every manifest (e.g. the package version or git sha). */
  codeVersion: string;
  /** Retries of each object write (default 5 retries, 200 ms to 10 s full-jitter backoff). */
  retry?: Pick<RetryPolicy, "retries" | "baseDelayMs" | "maxDelayMs">;
  /** Hooks for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => Date;
  onRetry?: (key: string, attempt: number, err: unknown) => void;
  /** Sharded saves: how often rank 0 looks for the other ranks' receipts (default 200 ms), and for how long (10 min). */
  receiptPollMs?: number;
  receiptTimeoutMs?: number;
}

const DEFAULT_RETRY = { retries: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

interface Snapshot {
  step: number;
  fields: CheckpointFields;
  files: { name: string; bytes: Uint8Array }[];
  sharding?: Omit<ShardedSave, "own">;
}

export class CheckpointWriter {
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private readonly keep: number;
  private readonly retry: Pick<RetryPolicy, "retries" | "baseDelayMs" | "maxDelayMs">;

  constructor(
    readonly store: CheckpointStore,
    private readonly options: WriterOptions,
  ) {
    this.keep = options.keep ?? 3;
    if (!Number.isInteger(this.keep) || this.keep < 1) throw new RangeError(`keep must be at least 1, got ${this.keep}`);
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /** Saves not yet committed or failed, the one uploading included. */
  get pending(): number {
    return this.queued;
  }

  /**
   * Copies the arrays now (encoding them as safetensors), so the caller may change them as soon as this returns;
   * the promise resolves once the checkpoint is committed and `latest` points at it, or rejects with
   * CheckpointWriteError (then `latest` still names the previous checkpoint).
   */
  save(input: SaveInput): Promise<CommittedCheckpoint> {
    const { step, weights, optimizer, sharding, ...fields } = input;
    stepDirName(step);
    if (fields.dataState.step !== step) throw new CheckpointInputError(step, `the data state is of step ${fields.dataState.step}`);
    if (fields.dataState.fingerprint !== fields.datasetFingerprint) throw new CheckpointInputError(step, `the data state is of dataset ${fields.dataState.fingerprint}, not ${fields.datasetFingerprint}`);
    let snapshot: Snapshot;
    if (sharding === undefined) {
      snapshot = {
        step,
        fields,
        files: [
          { name: MODEL_FILE, bytes: encodeSafetensors(weights, { format: "pt", step: String(step) }) },
          { name: OPTIMIZER_FILE, bytes: encodeSafetensors(optimizer, { step: String(step) }) },
        ],
      };
    } else {
      const { own, ...cut } = sharding;
      if (cut.ranges.length !== cut.worldSize) throw new CheckpointInputError(step, `${cut.ranges.length} shard ranges for a world of ${cut.worldSize}`);
      const files = [{ name: shardFileName(0, cut.worldSize), bytes: encodeSafetensors(shardToArrays(own), { step: String(step) }) }];
      if (!cut.paramsSharded) files.unshift({ name: MODEL_FILE, bytes: encodeSafetensors(weights, { format: "pt", step: String(step) }) });
      snapshot = { step, fields, files, sharding: cut };
    }
    return this.enqueue(() => this.commit(snapshot));
  }

  /**
   * A rank other than 0 saving its shard of a ZeRO checkpoint: the arrays are copied now; the shard, then its
   * receipt, are written in the background. Rank 0 commits the checkpoint once every receipt of this save is in.
   */
  saveShard(input: ShardSaveInput): Promise<void> {
    stepDirName(input.step);
    const name = shardFileName(input.rank, input.worldSize);
    const bytes = encodeSafetensors(shardToArrays(input.shard), { step: String(input.step) });
    return this.enqueue(async () => {
      const [sha256] = await Promise.all([sha256HexAsync(bytes), this.put(stepKey(input.step, name), bytes)]);
      const receipt: ShardReceipt = { saveId: input.saveId, bytes: bytes.length, sha256 };
      await this.put(stepKey(input.step, receiptName(input.rank, input.worldSize)), new TextEncoder().encode(JSON.stringify(receipt)));
    });
  }

  /** Runs `job` after every save queued before it, counting it as pending meanwhile. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    this.queued++;
    const result = this.chain.then(job);
    const settle = () => {
      this.queued--;
    };
    this.chain = result.then(settle, settle);
    return result;
  }

  /** Resolves when every save called so far has committed or failed. */
  async idle(): Promise<void> {
    await this.chain;
  }

  private async commit({ step, fields, files, sharding }: Snapshot): Promise<CommittedCheckpoint> {
    const dir = stepDirName(step);
    const entries: Record<string, FileEntry> = {};
    await Promise.all(
      files.map(async (f) => {
        // Hashing runs on the thread pool while the bytes upload.
        const [sha256] = await Promise.all([sha256HexAsync(f.bytes), this.put(stepKey(step, f.name), f.bytes)]);
        entries[f.name] = { bytes: f.bytes.length, sha256 };
      }),
    );
    if (sharding !== undefined) {
      for (let r = 1; r < sharding.worldSize; r++) entries[shardFileName(r, sharding.worldSize)] = await this.awaitReceipt(step, r, sharding);
    }
    const listed = sharding === undefined ? DATA_FILES.map((name) => name as string) : files.map((f) => f.name).concat(Array.from({ length: sharding.worldSize - 1 }, (_, i) => shardFileName(i + 1, sharding.worldSize)));
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      step,
      tokensSeen: fields.tokensSeen,
      worldSize: fields.worldSize,
      configHash: fields.configHash,
      datasetFingerprint: fields.datasetFingerprint,
      dataState: fields.dataState,
      files: Object.fromEntries(listed.map((name) => [name, entries[name] as FileEntry])),
      codeVersion: this.options.codeVersion,
      createdAt: (this.options.now?.() ?? new Date()).toISOString(),
      ...(sharding === undefined
        ? {}
        : {
            sharding: {
              zeroStage: sharding.zeroStage,
              worldSize: sharding.worldSize,
              tensors: sharding.tensors.map((t) => ({ name: t.name, shape: [...t.shape] })),
              shards: sharding.ranges.map(([start, end], rank) => ({ rank, file: shardFileName(rank, sharding.worldSize), start, end })),
              paramsSharded: sharding.paramsSharded,
            },
          }),
      ...(fields.extra === undefined ? {} : { extra: fields.extra }),
    };
    // The commit point: the directory counts only once this object exists.
    await this.put(stepKey(step, MANIFEST_FILE), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
    await this.put(LATEST_KEY, new TextEncoder().encode(`${dir}\n`));
    const pruned = await this.prune(step);
    return { step, dir, uri: `${this.store.uri.replace(/\/$/, "")}/${dir}`, manifest, pruned };
  }

  /** Rank r's receipt for this save, polled for; its shard file's entry. */
  private async awaitReceipt(step: number, rank: number, sharding: Omit<ShardedSave, "own">): Promise<FileEntry> {
    const key = stepKey(step, receiptName(rank, sharding.worldSize));
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const poll = this.options.receiptPollMs ?? 200;
    const deadline = Date.now() + (this.options.receiptTimeoutMs ?? 600_000);
    for (let attempt = 1; ; attempt++) {
      const bytes = await this.store.read(key).catch(() => undefined);
      if (bytes !== undefined) {
        let parsed: ReturnType<typeof ShardReceipt.safeParse> | undefined;
        try {
          parsed = ShardReceipt.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
        } catch {
          parsed = undefined;
        }
        // A receipt of another save (an earlier attempt at this step) is waited past: this save's overwrites it.
        if (parsed?.success === true && parsed.data.saveId === sharding.saveId) return { bytes: parsed.data.bytes, sha256: parsed.data.sha256 };
      }
      if (Date.now() >= deadline) throw new CheckpointWriteError(`${this.store.uri.replace(/\/$/, "")}/${key}`, attempt, new Error(`rank ${rank}'s shard of save ${sharding.saveId} never arrived`));
      await sleep(poll);
    }
  }

  private async prune(step: number): Promise<number[]> {
    const keys: string[] = [];
    for await (const o of this.store.list()) keys.push(o.key);
    const doomed = planRetention(groupSteps(keys), step, this.keep);
    for (const d of doomed) {
      // Manifest first: a directory half deleted is uncommitted, never a torn checkpoint that looks valid.
      const manifest = d.keys.filter((k) => k.endsWith(`/${MANIFEST_FILE}`));
      await this.store.remove(manifest);
      await this.store.remove(d.keys.filter((k) => !manifest.includes(k)));
    }
    return doomed.map((d) => d.step);
  }

  private async put(key: string, bytes: Uint8Array): Promise<void> {
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const random = this.options.random ?? Math.random;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.write(key, bytes);
        return;
      } catch (err) {
        if (attempt > this.retry.retries) throw new CheckpointWriteError(`${this.store.uri.replace(/\/$/, "")}/${key}`, attempt, err);
        this.options.onRetry?.(key, attempt, err);
        await sleep(backoffDelayMs(attempt, { ...this.retry, idleTimeoutMs: 0 }, random()));
      }
    }
  }
}
