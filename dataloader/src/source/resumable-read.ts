// Reads a byte range through a ranged-GET function, retrying failures from the last byte received.
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { ObjectReadError } from "../errors.js";
import { backoffDelayMs, isRetryable, type RetryPolicy } from "./retry-policy.js";

/** Opens the response body of a GET for bytes [offset, offset + length). */
export type RangedGet = (offset: number, length: number) => Promise<Readable>;

export interface RetryHooks {
  random?: () => number;
  sleep?: (ms: number) => Promise<unknown>;
  /** Called before each retry, for logs and metrics. */
  onRetry?: (info: { object: string; attempt: number; offset: number; delayMs: number; cause: unknown }) => void;
}

class ShortReadError extends Error {
  readonly code = "SHORT_READ";
  constructor(got: number, want: number) {
    super(`response ended after ${got} of ${want} bytes`);
  }
}

class IdleTimeoutError extends Error {
  readonly code = "ETIMEDOUT";
  constructor(ms: number) {
    super(`no bytes for ${ms} ms`);
  }
}

/**
 * Bytes [offset, offset + length) of `object`; the final error names the object and the last cause. `into`, when
 * given, is the `length` bytes to fill (a slice of the whole object's buffer saves a copy per part).
 */
export async function readRangeResumable(object: string, get: RangedGet, offset: number, length: number, policy: RetryPolicy, hooks: RetryHooks = {}, into?: Uint8Array): Promise<Uint8Array> {
  if (into !== undefined && into.length !== length) throw new RangeError(`read buffer holds ${into.length} bytes, the range is ${length}`);
  const out = into ?? new Uint8Array(length);
  let received = 0;
  let failures = 0;
  let tries = 0;
  for (;;) {
    const before = received;
    try {
      tries++;
      received = await pump(get, offset, out, received, policy.idleTimeoutMs);
      return out;
    } catch (err) {
      received = Math.max(received, progress(err) ?? before);
      // A try that moved forward is not a failure against the budget: a long read over a flaky link still finishes.
      failures = received > before ? 1 : failures + 1;
      if (!isRetryable(unwrap(err)) || failures > policy.retries) throw new ObjectReadError(object, tries, unwrap(err));
      const delayMs = backoffDelayMs(failures, policy, (hooks.random ?? Math.random)());
      hooks.onRetry?.({ object, attempt: failures, offset: offset + received, delayMs, cause: unwrap(err) });
      await (hooks.sleep ?? sleep)(delayMs);
    }
  }
}

/** Carries how far a failed try got, so the next one asks only for the rest. */
class PartialRead extends Error {
  constructor(
    readonly received: number,
    override readonly cause: unknown,
  ) {
    super("partial read");
  }
}

const progress = (err: unknown): number | undefined => (err instanceof PartialRead ? err.received : undefined);
const unwrap = (err: unknown): unknown => (err instanceof PartialRead ? err.cause : err);

async function pump(get: RangedGet, offset: number, out: Uint8Array, from: number, idleMs: number): Promise<number> {
  let received = from;
  const want = out.length;
  let body: Readable | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    body = await get(offset + received, want - received);
    const stream = body;
    // One timer per response, pushed back on each chunk (refresh is cheap; a new timer per chunk is not).
    timer = setTimeout(() => stream.destroy(new IdleTimeoutError(idleMs)), idleMs);
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : Buffer.from(chunk as string);
      if (received + bytes.length > want) throw new RangeError(`server sent more than the ${want - from} bytes asked for: does it ignore Range?`);
      out.set(bytes, received);
      received += bytes.length;
      timer.refresh();
    }
    if (received !== want) throw new ShortReadError(received, want);
    return received;
  } catch (err) {
    body?.destroy();
    throw new PartialRead(received, err);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `tasks` with at most `limit` in flight; rejects with the first failure after the others settle. */
export async function runPool(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (next < tasks.length && failure === undefined) {
      const task = tasks[next++];
      if (task === undefined) break;
      try {
        await task();
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  if (failure !== undefined) throw failure.err;
}

export interface PartedReadOptions {
  partBytes: number;
  concurrency: number;
  policy: RetryPolicy;
  hooks?: RetryHooks;
}

/** Bytes [offset, offset + length) as parallel ranged GETs of `partBytes`, each retried on its own. */
export async function readRangeParted(object: string, get: RangedGet, offset: number, length: number, opts: PartedReadOptions): Promise<Uint8Array> {
  if (length <= opts.partBytes) return readRangeResumable(object, get, offset, length, opts.policy, opts.hooks);
  const out = new Uint8Array(length);
  const tasks: (() => Promise<void>)[] = [];
  for (let at = 0; at < length; at += opts.partBytes) {
    const size = Math.min(opts.partBytes, length - at);
    tasks.push(async () => {
      await readRangeResumable(object, get, offset + at, size, opts.policy, opts.hooks, out.subarray(at, at + size));
    });
  }
  await runPool(tasks, opts.concurrency);
  return out;
}
