import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ObjectReadError, UnsupportedSourceError, backoffDelayMs, isRetryable, parseSourceUri, readRangeParted, readRangeResumable, runPool, type RangedGet, type RetryPolicy } from "@gantry/dataloader";

const policy: RetryPolicy = { retries: 3, baseDelayMs: 100, maxDelayMs: 1000, idleTimeoutMs: 50 };
const body = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 31) % 251);
const codeError = (code: string, message = code) => Object.assign(new Error(message), { code });

/** A server over `body` whose i-th response follows `script[i]`: deliver fully, fail before any byte, or drop after n bytes. */
function flakyServer(script: ({ kind: "ok" } | { kind: "fail"; err: Error } | { kind: "drop"; after: number; err: Error } | { kind: "stall"; after: number })[]) {
  const requests: { offset: number; length: number }[] = [];
  const get: RangedGet = (offset, length) => {
    requests.push({ offset, length });
    const step = script[requests.length - 1] ?? { kind: "ok" };
    const bytes = body.subarray(offset, offset + length);
    if (step.kind === "fail") return Promise.reject(step.err);
    if (step.kind === "ok") return Promise.resolve(Readable.from([Buffer.from(bytes.subarray(0, 3000)), Buffer.from(bytes.subarray(3000))]));
    const stream = new Readable({ read() {} });
    stream.push(Buffer.from(bytes.subarray(0, step.after)));
    if (step.kind === "drop") setImmediate(() => stream.destroy(step.err));
    return Promise.resolve(stream);
  };
  return { get, requests };
}

const noSleep = { sleep: () => Promise.resolve(), random: () => 0.5 };

describe("resumable ranged reads", () => {
  it("resumes from the last byte received after resets, SlowDown and stalls, and returns the exact bytes", async () => {
    const server = flakyServer([
      { kind: "drop", after: 1234, err: codeError("ECONNRESET", "read ECONNRESET") },
      { kind: "fail", err: Object.assign(new Error("Please reduce your request rate."), { code: "SlowDown", name: "S3Error" }) },
      { kind: "stall", after: 1000 },
      { kind: "ok" },
    ]);
    const retries: number[] = [];
    const out = await readRangeResumable("s3://b/k", server.get, 500, 8000, policy, { ...noSleep, onRetry: (r) => retries.push(r.offset) });
    expect(Buffer.from(out).equals(Buffer.from(body.subarray(500, 8500)))).toBe(true);
    expect(server.requests).toEqual([
      { offset: 500, length: 8000 },
      { offset: 1734, length: 6766 },
      { offset: 1734, length: 6766 },
      { offset: 2734, length: 5766 },
    ]);
    expect(retries).toEqual([1734, 1734, 2734]);
  });

  it("fails at once on what a retry cannot fix, naming the object and the cause", async () => {
    const server = flakyServer([{ kind: "fail", err: codeError("NoSuchKey", "The specified key does not exist.") }]);
    const err = await readRangeResumable("s3://b/p/shard-00001.bin", server.get, 0, 10, policy, noSleep).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectReadError);
    expect((err as ObjectReadError).object).toBe("s3://b/p/shard-00001.bin");
    expect((err as Error).message).toBe("reading s3://b/p/shard-00001.bin failed after 1 attempt(s): NoSuchKey: The specified key does not exist.");
    expect(server.requests.length).toBe(1);
  });

  it("gives up after the retry budget when no progress is made, with the last cause", async () => {
    const err503 = Object.assign(new Error("Service Unavailable"), { code: "ServiceUnavailable", name: "S3Error" });
    const server = flakyServer(Array.from({ length: 10 }, () => ({ kind: "fail" as const, err: err503 })));
    const delays: number[] = [];
    const err = await readRangeResumable("s3://b/k", server.get, 0, 10, policy, { random: () => 0.999, sleep: (ms) => Promise.resolve(delays.push(ms)) }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("reading s3://b/k failed after 4 attempt(s): ServiceUnavailable: Service Unavailable");
    expect(server.requests.length).toBe(4);
    expect(delays).toEqual([99, 199, 399]);
  });

  it("splits a large range into parallel parts that each retry on their own", async () => {
    const server = flakyServer([{ kind: "ok" }, { kind: "drop", after: 10, err: codeError("EPIPE") }]);
    const out = await readRangeParted("s3://b/k", server.get, 100, 9000, { partBytes: 2048, concurrency: 3, policy, hooks: noSleep });
    expect(Buffer.from(out).equals(Buffer.from(body.subarray(100, 9100)))).toBe(true);
    // Five 2 KiB parts; the second request (part 1, at 2148) dropped after 10 bytes and resumed at 2158.
    expect(server.requests[1]).toEqual({ offset: 2148, length: 2048 });
    expect(server.requests.map((r) => r.offset).sort((x, y) => x - y)).toEqual([100, 2148, 2158, 4196, 6244, 8292]);
    expect(server.requests.find((r) => r.offset === 2158)?.length).toBe(2038);
  });
});

describe("retry policy", () => {
  it("classifies throttling, 5xx and dropped connections as retryable, the rest not", () => {
    for (const code of ["SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "ECONNRESET", "ETIMEDOUT", "EPIPE"]) expect(isRetryable(codeError(code))).toBe(true);
    for (const code of ["NoSuchKey", "AccessDenied", "NotFound", "InvalidRange"]) expect(isRetryable(codeError(code))).toBe(false);
    expect(isRetryable(Object.assign(new Error("x"), { statusCode: 502 }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("x"), { statusCode: 404 }))).toBe(false);
    expect(isRetryable(new Error("socket hang up"))).toBe(true);
    expect(isRetryable("string")).toBe(false);
  });

  it("backs off exponentially with full jitter, capped", () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelayMs(a, policy, 0.999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffDelayMs(3, policy, 0)).toBe(0);
  });
});

describe("pool", () => {
  it("never runs more than the limit at once and runs every task", async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const tasks = Array.from({ length: 10 }, (_, i) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      done.push(i);
    });
    await runPool(tasks, 3);
    expect(peak).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe("source URIs", () => {
  it("parses s3 and file URIs, and rejects the rest", () => {
    expect(parseSourceUri("s3://corpus/web/v2")).toEqual({ kind: "s3", bucket: "corpus", prefix: "web/v2/" });
    expect(parseSourceUri("s3://corpus")).toEqual({ kind: "s3", bucket: "corpus", prefix: "" });
    expect(parseSourceUri("file:///data/tokens")).toEqual({ kind: "file", path: "/data/tokens" });
    expect(() => parseSourceUri("http://x/y")).toThrow(UnsupportedSourceError);
    expect(() => parseSourceUri("not a uri")).toThrow(/expected s3:\/\/bucket\/prefix or file:\/\/\/path/);
  });
});
