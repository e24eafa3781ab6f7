// The work queue: deduplication, one worker per key, re-runs for keys added mid-flight, per-key backoff.
import { describe, expect, it } from "vitest";
import { WorkQueue } from "../src/controller/work-queue.js";

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("WorkQueue", () => {
  it("deduplicates keys added before they run", async () => {
    const q = new WorkQueue();
    const seen: string[] = [];
    for (const k of ["a", "b", "a", "a", "c", "b"]) q.add(k);
    const running = q.run(1, async (k) => {
      seen.push(k);
      return undefined;
    }, () => undefined);
    await tick();
    q.stop();
    await running;
    expect(seen).toEqual(["a", "b", "c"]);
  });

  it("never runs one key on two workers at once, and reruns a key added while it ran", async () => {
    const q = new WorkQueue();
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const running = q.run(4, async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      runs++;
      if (runs === 1) q.add("job");
      await tick();
      concurrent--;
      return undefined;
    }, () => undefined);
    q.add("job");
    await new Promise((r) => setTimeout(r, 40));
    q.stop();
    await running;
    expect(maxConcurrent).toBe(1);
    expect(runs).toBe(2);
  });

  it("backs off a failing key exponentially and forgets its failures once it succeeds", async () => {
    const q = new WorkQueue({ baseDelayMs: 5, maxDelayMs: 1000 });
    expect([1, 2, 3, 4].map((n) => q.backoffMs(n))).toEqual([5, 10, 20, 40]);
    expect(q.backoffMs(30)).toBe(1000);
    const errors: string[] = [];
    let calls = 0;
    const running = q.run(1, async (k) => {
      calls++;
      if (calls < 3) throw new Error(`boom ${calls} on ${k}`);
      return undefined;
    }, (key, err) => errors.push(`${key}: ${(err as Error).message}`));
    q.add("x");
    await new Promise((r) => setTimeout(r, 80));
    q.stop();
    await running;
    expect(errors).toEqual(["x: boom 1 on x", "x: boom 2 on x"]);
    expect(calls).toBe(3);
  });

  it("runs a key again after the delay a handler asks for", async () => {
    const q = new WorkQueue();
    let calls = 0;
    const running = q.run(1, async () => {
      calls++;
      return calls === 1 ? { requeueAfterMs: 10 } : undefined;
    }, () => undefined);
    q.add("k");
    await new Promise((r) => setTimeout(r, 60));
    q.stop();
    await running;
    expect(calls).toBe(2);
  });
});
