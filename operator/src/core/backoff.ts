// Delays between attempts, as pure functions of counters and the job's uid (the jitter is a hash, not a random draw,
// so plan() stays deterministic while two jobs that collide still retry at different times).

export interface BackoffConfig {
  /** First delay after an application failure. */
  failureBaseSeconds: number;
  /** Cap on the failure delay. */
  failureMaxSeconds: number;
  /** Wait after releasing a gang that could not be scheduled, before trying again. */
  gangRetrySeconds: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { failureBaseSeconds: 10, failureMaxSeconds: 300, gangRetrySeconds: 30 };

/** FNV-1a of the text, scaled to [0, 1). */
export function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x1_0000_0000;
}

/** Exponential backoff after the n-th failure (n ≥ 1): base·2^(n-1), capped, plus up to 10% jitter. */
export function failureDelayMs(n: number, uid: string, config: BackoffConfig = DEFAULT_BACKOFF): number {
  const seconds = Math.min(config.failureMaxSeconds, config.failureBaseSeconds * 2 ** Math.max(0, n - 1));
  return Math.round(seconds * 1000 * (1 + 0.1 * unitHash(`${uid}/failure/${n}`)));
}

/** Delay before retrying a released gang: the base plus up to the base again, different for each job and attempt. */
export function gangRetryDelayMs(attempt: number, uid: string, config: BackoffConfig = DEFAULT_BACKOFF): number {
  return Math.round(config.gangRetrySeconds * 1000 * (1 + unitHash(`${uid}/gang/${attempt}`)));
}
