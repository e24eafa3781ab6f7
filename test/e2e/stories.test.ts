// The Gantry story end to end, on the local control plane with real trainer processes (run by the local node agent),
// the real Redis and the real S3 server: a job trains, a spot node is reclaimed, the job comes back from its
// checkpoint without losing or repeating work, and it finishes with the weights an uninterrupted run would have.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Controller } from "../../operator/src/controller/controller.js";
import { ensureCrd, kubeConfig } from "../support/kube.js";
import { Nodes } from "../support/nodes.js";
import { AGENT_NODE_PLAN, startOperator } from "../support/operator.js";
import { waitFor } from "../support/wait.js";
import { Story } from "./support/story.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const nodes = new Nodes(kc);
let story: Story;
let operator: Controller;

beforeAll(async () => {
  await ensureCrd(env);
  story = await Story.open(env, kc, "e2e");
  operator = await startOperator(kc, env, story.ns.name, AGENT_NODE_PLAN);
});

afterAll(async () => {
  await operator?.stop();
  await story?.close();
});

const STEPS = 60;
// Long enough that the small gang is still training when the capacity arrives.
const ELASTIC_STEPS = 240;
const PAIR = "gantry.dev/e2e-pair";
const pinned = (pair: string) => ({ nodeSelector: { "gantry.dev/test-pool": story.ns.name, [PAIR]: pair } });

describe("the preemption story", () => {
  it("a 2-worker job reclaimed mid-training succeeds with one preemption and bitwise the weights of an uninterrupted run", async () => {
    // The reference runs on its own pair of nodes, untouched.
    for (const n of ["a", "b"]) await story.addNode(n, { [PAIR]: "ref" });
    for (const n of ["c", "d"]) await story.addNode(n, { [PAIR]: "story" });
    await story.jobs.create("reference", story.spec({ steps: STEPS, scheduling: pinned("ref") }));
    await story.jobs.create("story", story.spec({ steps: STEPS, scheduling: pinned("story") }));

    await story.jobs.waitPhase("story", "Running", 0, 120_000);
    // Mid-training: once a checkpoint exists, the spot node of worker 1 is reclaimed.
    await waitFor("story's first checkpoint", () => story.manifest("story", 4), (m) => m !== undefined, { timeoutMs: 180_000, intervalMs: 250 });
    const victim = (await story.jobs.livePods("story")).find((p) => p.metadata?.labels?.["gantry.dev/worker"] === "1")?.spec?.nodeName ?? "";
    expect(victim).not.toBe("");
    await nodes.reclaimSpot(victim);
    // The cloud replaces it: a fresh node joins the story's pair.
    await story.addNode("e", { [PAIR]: "story" });

    const done = await story.jobs.waitPhase("story", "Succeeded", undefined, 420_000);
    const reference = await story.jobs.waitPhase("reference", "Succeeded", undefined, 420_000);
    expect(done.status?.restarts, JSON.stringify(await story.jobs.events("story"))).toEqual({ preemption: 1, failure: 0 });
    expect(done.status?.attempt).toBe(1);
    expect(reference.status?.restarts).toEqual({ preemption: 0, failure: 0 });

    const [mine, theirs] = [await story.manifest("story", STEPS), await story.manifest("reference", STEPS)];
    // The Gantry promise in one assertion: the same bytes as if nothing had happened.
    expect(mine?.files["model.safetensors"]?.sha256).toBe(theirs?.files["model.safetensors"]?.sha256);
    expect(mine?.files["optimizer.safetensors"]?.sha256).toBe(theirs?.files["optimizer.safetensors"]?.sha256);
    expect(mine?.dataState.consumedSamples).toBe(STEPS * 4);
    expect((await story.losses("story")).train).toEqual((await story.losses("reference")).train);
    expect(mine?.dataState.attempt).toBe(1);
  }, 900_000);
});

describe("the failure story", () => {
  it("a job whose data is in a missing bucket fails once, permanently, with the reason in status and events", async () => {
    await story.addNode("x", { [PAIR]: "fail" });
    await story.jobs.create("missing", story.spec({ workers: 1, source: "s3://no-such-bucket-gantry/corpus", scheduling: pinned("fail") }));
    const failed = await story.jobs.waitPhase("missing", "Failed", undefined, 180_000);
    const condition = failed.status?.conditions?.find((c) => c.type === "Failed");
    expect(condition?.reason).toBe("InvalidData");
    expect(condition?.message).toContain("no-such-bucket-gantry");
    expect(failed.status?.restarts).toEqual({ preemption: 0, failure: 0 });
    expect(failed.status?.attempt).toBe(0);
    const events = await story.jobs.events("missing");
    expect(events.some((e) => e.type === "Warning" && e.message.includes("no-such-bucket-gantry"))).toBe(true);
  }, 300_000);
});

describe("the elastic story", () => {
  it("min 1, max 2 with room for 1 runs with 1 worker, grows to 2 at the next attempt, and no sample is lost or repeated", async () => {
    const first = await story.addNode("f", { [PAIR]: "elastic" });
    await story.jobs.create("elastic", story.spec({ workers: 2, steps: ELASTIC_STEPS, checkpointEvery: 8, elastic: { minWorkers: 1, maxWorkers: 2 }, scheduling: { ...pinned("elastic"), gangTimeoutSeconds: 10 } }));
    const small = await waitFor("elastic to run with 1 worker", () => story.jobs.read("elastic"), (j) => j.status?.phase === "Running" && j.status.workers?.desired === 1, { timeoutMs: 180_000 });
    const smallAttempt = small.status?.attempt ?? 0;
    await waitFor("a checkpoint at world size 1", () => story.manifest("elastic", 8), (m) => m !== undefined, { timeoutMs: 180_000, intervalMs: 250 });
    // Capacity for 2 appears; the next attempt boundary (here the reclaim of the small gang's node) grows the job.
    for (const n of ["g", "h"]) await story.addNode(n, { [PAIR]: "elastic" });
    await nodes.reclaimSpot(first);
    const grown = await waitFor("elastic to run with 2 workers", () => story.jobs.read("elastic"), (j) => j.status?.phase === "Running" && j.status.workers?.desired === 2, { timeoutMs: 180_000 });
    expect(grown.status?.attempt).toBeGreaterThan(smallAttempt);
    await story.jobs.waitPhase("elastic", "Succeeded", undefined, 420_000);
    // The dataloader's accounting at every checkpoint: exactly step × globalBatch samples consumed, whatever the
    // world size that took each step.
    const sizes = new Set<number>();
    for (let step = 8; step <= ELASTIC_STEPS; step += 8) {
      const m = await story.manifest("elastic", step);
      if (m === undefined) continue;
      expect(m.dataState.consumedSamples).toBe(step * 4);
      sizes.add(m.worldSize);
    }
    expect(sizes).toEqual(new Set([1, 2]));
    expect((await story.losses("elastic")).train.map((l) => l.step)).toEqual([...Array(ELASTIC_STEPS).keys()]);
  }, 900_000);
});
