// Polling with a deadline and a failure message that says what was awaited and what was last seen.
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly last: unknown,
    timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last seen: ${describe(last)}`);
    this.name = "WaitTimeoutError";
  }
}

function describe(v: unknown): string {
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    return JSON.stringify(v)?.slice(0, 2000) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Calls `probe` until `done(value)` holds, and returns that value. A probe that throws counts as not done yet;
 * its error is reported if time runs out.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T> | T, done: (value: T) => boolean, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const value = await probe();
      if (done(value)) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(what, last, timeoutMs);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
