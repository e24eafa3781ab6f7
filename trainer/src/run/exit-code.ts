// Which exit code (crds/src/contract/exit-codes.ts) an error that ends the trainer maps to. Permanent means
// retrying cannot help, so the operator fails the job at once with our message instead of burning its backoff.
import { EXIT } from "@gantry/crds";
import {
  ChecksumMismatchError,
  CorruptShardError,
  FingerprintMismatchError,
  InvalidManifestError,
  InvalidResumeStateError,
  InvalidTextRecordError,
  MissingResumeStateError,
  ObjectReadError,
  ResumeStateConflictError,
  StreamRepartitionError,
  UnsupportedSourceError,
} from "@gantry/dataloader";
import { CorruptCheckpointError } from "../checkpoint/errors.js";
import { RendezvousConfigError } from "../collective/errors.js";
import { ModelConfigError } from "../model/model-config.js";
import { LayoutError } from "../parallel/layout.js";
import { PartitionError } from "../parallel/partition.js";
import { ParamImportError } from "../model/param-io.js";
import { TrainConfigError } from "../train/train-config.js";
import { ConfigError } from "../runtime/run-config.js";

export interface ExitDecision {
  code: number;
  /** One line for the pod's termination message and the log. */
  message: string;
}

/** S3 error codes that mean the object or bucket is not there, or we may not read it: the spec is wrong. */
const MISSING = new Set(["NoSuchBucket", "NoSuchKey", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ENOENT", "NotFound"]);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

export function exitFor(err: unknown): ExitDecision {
  const message = err instanceof Error ? err.message : String(err);
  const is = (...types: (abstract new (...args: never[]) => unknown)[]) => types.some((t) => err instanceof t);
  if (is(ConfigError, TrainConfigError, ModelConfigError, RendezvousConfigError, ParamImportError, UnsupportedSourceError, StreamRepartitionError, LayoutError, PartitionError)) {
    return { code: EXIT.badConfig, message };
  }
  if (is(CorruptShardError, ChecksumMismatchError, InvalidManifestError, FingerprintMismatchError, InvalidTextRecordError, InvalidResumeStateError, ResumeStateConflictError, MissingResumeStateError, CorruptCheckpointError)) {
    return { code: EXIT.badData, message };
  }
  if (err instanceof ObjectReadError && MISSING.has(codeOf(err.cause) ?? "")) return { code: EXIT.badData, message };
  return { code: EXIT.retryable, message };
}
