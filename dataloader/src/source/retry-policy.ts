// When a failed read is worth retrying, and how long to wait: exponential backoff with full jitter.

export interface RetryPolicy {
  /** Retries after the first try; the read fails for good after `retries + 1` failed tries without progress. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Abort a response that delivers no byte for this long (it counts as a timeout, and is retried). */
  idleTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 6, baseDelayMs: 100, maxDelayMs: 10_000, idleTimeoutMs: 30_000 };

/** Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2^(attempt-1))). `random` is in [0, 1). */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random * ceiling);
}

const RETRYABLE_S3_CODES = new Set([
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "RequestTimeoutException",
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "BadGateway",
  "GatewayTimeout",
]);

const RETRYABLE_NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
  "SHORT_READ",
]);

/** True for throttling, 5xx, timeouts and dropped connections; false for what another try cannot fix (404, 403, bad range). */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof statusCode === "number" && (statusCode >= 500 || statusCode === 429 || statusCode === 408)) return true;
  if (typeof code === "string") {
    if (RETRYABLE_S3_CODES.has(code) || RETRYABLE_NETWORK_CODES.has(code)) return true;
    // minio leaves the code empty for an error response it could not classify, which it only does for 5xx without a body.
    if (code === "" && err.name === "S3Error") return true;
    return false;
  }
  return /socket hang up|aborted|premature close|Retryable HTTP status/i.test(err.message);
}
