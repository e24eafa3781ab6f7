// The trainer's progress record, which rank 0 writes to Redis and the operator mirrors into status.progress.
// A Redis hash at progressKey(uid), every field a decimal string:
//   step, totalSteps, loss, tokensPerSecond, etaSeconds, checkpointStep, checkpointUri, checkpointTime (RFC 3339)
import { z } from "zod";
import type { JobStatus } from "../schema/status.js";

export const progressKey = (jobUid: string) => `gantry:job:${jobUid}:progress`;

const count = z.coerce.number().int().min(0);

const ProgressRecord = z.object({
  step: count,
  totalSteps: count.optional(),
  loss: z.coerce.number().optional(),
  tokensPerSecond: z.coerce.number().min(0).optional(),
  etaSeconds: count.optional(),
  checkpointStep: count.optional(),
  checkpointUri: z.string().max(2048).optional(),
  checkpointTime: z.string().max(64).optional(),
});

export type Progress = NonNullable<JobStatus["progress"]>;

/** The status form of a progress record, or undefined for a missing or malformed one. */
export function progressFromRecord(record: Record<string, string>): Progress | undefined {
  const r = ProgressRecord.safeParse(record);
  if (!r.success) return undefined;
  const p = r.data;
  const out: Progress = { step: p.step };
  if (p.totalSteps !== undefined) out.totalSteps = p.totalSteps;
  if (p.loss !== undefined && Number.isFinite(p.loss)) out.loss = p.loss.toPrecision(4);
  if (p.tokensPerSecond !== undefined) out.tokensPerSecond = Math.round(p.tokensPerSecond);
  if (p.etaSeconds !== undefined) out.etaSeconds = p.etaSeconds;
  if (p.checkpointStep !== undefined && p.checkpointUri !== undefined) {
    out.lastCheckpoint = { step: p.checkpointStep, uri: p.checkpointUri, ...(p.checkpointTime ? { time: p.checkpointTime } : {}) };
  }
  return out;
}
