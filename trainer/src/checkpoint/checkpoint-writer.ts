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
  /** Optimizer state: `m.<name>`, `v.<name>` and any scalars. */
  optimizer: readonly NamedArray[];
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
}

const DEFAULT_RETRY = { retries: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

interface Snapshot {
  step: number;
  fields: CheckpointFields;
  files: { name: string; bytes: Uint8Array }[];
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
    const { step, weights, optimizer, ...fields } = input;
    stepDirName(step);
    if (fields.dataState.step !== step) throw new CheckpointInputError(step, `the data state is of step ${fields.dataState.step}`);
    if (fields.dataState.fingerprint !== fields.datasetFingerprint) throw new CheckpointInputError(step, `the data state is of dataset ${fields.dataState.fingerprint}, not ${fields.datasetFingerprint}`);
    const snapshot: Snapshot = {
      step,
      fields,
      files: [
        { name: MODEL_FILE, bytes: encodeSafetensors(weights, { format: "pt", step: String(step) }) },
        { name: OPTIMIZER_FILE, bytes: encodeSafetensors(optimizer, { step: String(step) }) },
      ],
    };
    this.queued++;
    const result = this.chain.then(() => this.commit(snapshot));
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

  private async commit({ step, fields, files }: Snapshot): Promise<CommittedCheckpoint> {
    const dir = stepDirName(step);
    const entries: Record<string, FileEntry> = {};
    await Promise.all(
      files.map(async (f) => {
        // Hashing runs on the thread pool while the bytes upload.
        const [sha256] = await Promise.all([sha256HexAsync(f.bytes), this.put(stepKey(step, f.name), f.bytes)]);
        entries[f.name] = { bytes: f.bytes.length, sha256 };
      }),
    );
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      step,
      tokensSeen: fields.tokensSeen,
      worldSize: fields.worldSize,
      configHash: fields.configHash,
      datasetFingerprint: fields.datasetFingerprint,
      dataState: fields.dataState,
      files: Object.fromEntries(DATA_FILES.map((name) => [name, entries[name] as FileEntry])),
      codeVersion: this.options.codeVersion,
      createdAt: (this.options.now?.() ?? new Date()).toISOString(),
      ...(fields.extra === undefined ? {} : { extra: fields.extra }),
    };
    // The commit point: the directory counts only once this object exists.
    await this.put(stepKey(step, MANIFEST_FILE), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
    await this.put(LATEST_KEY, new TextEncoder().encode(`${dir}\n`));
    const pruned = await this.prune(step);
    return { step, dir, uri: `${this.store.uri.replace(/\/$/, "")}/${dir}`, manifest, pruned };
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
