// Reads the trainer's progress records from Redis, at most once per interval per job, so status writes stay bounded
// however often the trainer reports.
import { Redis } from "ioredis";
import { progressFromRecord, progressKey, type Progress } from "@gantry/crds";
import type { Logger } from "../log.js";

export class ProgressReader {
  private readonly redis: Redis;
  private readonly cache = new Map<string, { at: number; value: Progress | undefined }>();

  constructor(
    url: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
    this.redis.on("error", (err: Error) => this.log.debug("progress redis error", { error: err.message }));
  }

  /** The latest record of the job, read again only when the cached one is older than the interval, or when `fresh`. */
  async read(jobUid: string, now = Date.now(), fresh = false): Promise<Progress | undefined> {
    const hit = this.cache.get(jobUid);
    if (hit && !fresh && now - hit.at < this.intervalMs) return hit.value;
    let value: Progress | undefined;
    try {
      value = progressFromRecord(await this.redis.hgetall(progressKey(jobUid)));
    } catch (err) {
      // Progress is advisory: an unreachable Redis must not stop reconciling.
      this.log.warn("progress not read", { jobUid, error: err instanceof Error ? err.message : String(err) });
      value = hit?.value;
    }
    this.cache.set(jobUid, { at: now, value });
    return value;
  }

  forget(jobUid: string): void {
    this.cache.delete(jobUid);
  }

  close(): void {
    this.redis.disconnect();
  }
}
