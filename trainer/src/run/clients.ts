// The network clients a run needs, made from its configuration: Redis when a URL is set, S3 when some URI is on S3.
import { Redis } from "ioredis";
import type { Client } from "minio";
import type { RunConfig } from "../runtime/run-config.js";
import { needsS3, s3ClientFor } from "./storage.js";

export interface RunClients {
  redis?: Redis;
  s3?: Client;
  close(): Promise<void>;
}

export function openClients(cfg: RunConfig): RunClients {
  const { data, model, distillation } = cfg.spec;
  // Every URI the run reads or writes: checkpoints, data, a pretrained base and a distillation teacher.
  const uris = [cfg.checkpointUri, data.source, ...(data.streams ?? []).map((s) => s.source), data.validation?.source, model.pretrained?.uri, distillation?.teacher.uri].filter(
    (u): u is string => u !== undefined,
  );
  const out: RunClients = { close: async () => undefined };
  if (needsS3(...uris)) out.s3 = s3ClientFor(cfg.s3, uris.filter((u) => u.startsWith("s3://")));
  if (cfg.redisUrl !== undefined) {
    // Fail fast with the cause instead of queueing commands forever while the server is unreachable.
    const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 5, connectTimeout: 10_000, lazyConnect: false });
    redis.on("error", () => undefined);
    out.redis = redis;
    out.close = async () => {
      await redis.quit().catch(() => redis.disconnect());
    };
  }
  return out;
}
