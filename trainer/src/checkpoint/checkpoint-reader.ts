// Finds and loads the newest checkpoint that is whole: its manifest parses and every file has the size and sha256
// the manifest records. `latest` is read first; when it is missing or names something unusable, the reader falls
// back to the newest valid step directory by listing. A directory without a manifest (a save cut short) is never loaded.
import { sha256HexAsync } from "@gantry/dataloader";
import type { CheckpointStore } from "./checkpoint-store.js";
import { CorruptCheckpointError } from "./errors.js";
import { DATA_FILES, LATEST_KEY, MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE, groupSteps, parseStepDirName, stepDirName, stepKey } from "./layout.js";
import { parseManifest, type CheckpointManifest } from "./manifest.js";
import type { NamedArray } from "./named-array.js";
import { decodeSafetensors, toNamedArray } from "./safetensors.js";
import { arraysToShard } from "./shard-files.js";
import { assembleShards, ShardAssemblyError } from "../zero/shard-assembly.js";
import { flatLayout } from "../zero/shard-layout.js";

export interface LoadedCheckpoint {
  step: number;
  dir: string;
  manifest: CheckpointManifest;
  weights: NamedArray[];
  optimizer: NamedArray[];
}

export interface LatestCheckpoint extends LoadedCheckpoint {
  /** Newer candidates that were passed over, and why: for a warning in the log. */
  skipped: { dir: string; reason: string }[];
}

export class CheckpointReader {
  constructor(readonly store: CheckpointStore) {}

  /** The checkpoint `latest` names if it is whole, else the newest whole one by listing; undefined when there is none. */
  async latest(): Promise<LatestCheckpoint | undefined> {
    const skipped: { dir: string; reason: string }[] = [];
    const hint = await this.latestHint();
    if (hint !== undefined) {
      const loaded = await this.tryLoad(hint, skipped);
      if (loaded !== undefined) return { ...loaded, skipped };
    }
    for (const step of await this.committedCandidates()) {
      if (step === hint) continue;
      const loaded = await this.tryLoad(step, skipped);
      if (loaded !== undefined) return { ...loaded, skipped };
    }
    return undefined;
  }

  /** Steps whose directory has a manifest, newest first (not yet verified). */
  async committedSteps(): Promise<number[]> {
    return this.committedCandidates();
  }

  /** Loads and verifies one step; throws CorruptCheckpointError if it is missing, uncommitted or damaged. */
  async load(step: number): Promise<LoadedCheckpoint> {
    const dir = stepDirName(step);
    const where = `${this.store.uri.replace(/\/$/, "")}/${dir}`;
    const manifestBytes = await this.store.read(stepKey(step, MANIFEST_FILE));
    if (manifestBytes === undefined) throw new CorruptCheckpointError(where, "no manifest.json: the save never committed");
    const manifest = parseManifest(where, manifestBytes);
    if (manifest.step !== step) throw new CorruptCheckpointError(where, `manifest is of step ${manifest.step}`);
    const sharding = manifest.sharding;
    // Unsharded: the model and optimizer files. Sharded: every file the manifest lists (model, when written, and
    // each rank's shard), all verified before any is decoded.
    const needed: string[] = sharding === undefined ? [...DATA_FILES] : Object.keys(manifest.files);
    if (sharding !== undefined) {
      for (const s of sharding.shards) if (!needed.includes(s.file)) throw new CorruptCheckpointError(where, `manifest lists no ${s.file}`);
      if (!sharding.paramsSharded && !needed.includes(MODEL_FILE)) throw new CorruptCheckpointError(where, `manifest lists no ${MODEL_FILE}`);
    }
    const bytes: Record<string, Uint8Array> = {};
    await Promise.all(
      needed.map(async (name) => {
        const entry = manifest.files[name];
        if (entry === undefined) throw new CorruptCheckpointError(where, `manifest lists no ${name}`);
        const data = await this.store.read(stepKey(step, name));
        if (data === undefined) throw new CorruptCheckpointError(where, `${name} is missing`);
        if (data.length !== entry.bytes) throw new CorruptCheckpointError(where, `${name} has ${data.length} bytes, the manifest says ${entry.bytes}`);
        const sha = await sha256HexAsync(data);
        if (sha !== entry.sha256) throw new CorruptCheckpointError(where, `${name} has sha256 ${sha}, the manifest says ${entry.sha256}`);
        bytes[name] = data;
      }),
    );
    const decode = (name: string) => {
      try {
        return decodeSafetensors(bytes[name] as Uint8Array, `${where}/${name}`).tensors.map(toNamedArray);
      } catch (err) {
        throw new CorruptCheckpointError(where, (err as Error).message);
      }
    };
    if (sharding === undefined) return { step, dir, manifest, weights: decode(MODEL_FILE), optimizer: decode(OPTIMIZER_FILE) };
    // Put the shards back together: a reader (gantry-generate, a resume at any world size or stage) gets full arrays.
    const pieces = sharding.shards.map((s) => {
      const shard = arraysToShard(decode(s.file));
      if (typeof shard === "string") throw new CorruptCheckpointError(where, `${s.file}: ${shard}`);
      return { range: [s.start, s.end] as const, ...shard };
    });
    let assembled;
    try {
      assembled = assembleShards(flatLayout(sharding.tensors), pieces);
    } catch (err) {
      if (err instanceof ShardAssemblyError) throw new CorruptCheckpointError(where, err.message);
      throw err;
    }
    const weights = assembled.params ?? decode(MODEL_FILE);
    if (sharding.paramsSharded && assembled.params === undefined) throw new CorruptCheckpointError(where, "the shards should hold the parameters and do not");
    return { step, dir, manifest, weights, optimizer: assembled.optimizer };
  }

  private async latestHint(): Promise<number | undefined> {
    const bytes = await this.store.read(LATEST_KEY);
    return bytes === undefined ? undefined : parseStepDirName(new TextDecoder().decode(bytes));
  }

  private async committedCandidates(): Promise<number[]> {
    const keys: string[] = [];
    for await (const o of this.store.list()) keys.push(o.key);
    return groupSteps(keys)
      .filter((s) => s.committed)
      .map((s) => s.step);
  }

  private async tryLoad(step: number, skipped: { dir: string; reason: string }[]): Promise<LoadedCheckpoint | undefined> {
    try {
      return await this.load(step);
    } catch (err) {
      if (!(err instanceof CorruptCheckpointError)) throw err;
      skipped.push({ dir: stepDirName(step), reason: err.reason });
      return undefined;
    }
  }
}
