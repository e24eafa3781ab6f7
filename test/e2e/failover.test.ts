// Operator failover mid-training: two operator processes with leader election, the leader is SIGKILLed while the
// job trains; the standby takes over through the Lease, creates no pod twice, and the job still succeeds.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REPO_ROOT } from "../support/cluster-env.js";
import { ensureCrd, kubeConfig } from "../support/kube.js";
import { waitFor } from "../support/wait.js";
import { Story } from "./support/story.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const leases = kc.makeApiClient(CoordinationV1Api);
let story: Story;
const replicas = new Map<string, ChildProcess>();

function startReplica(identity: string, port: number): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "operator", "src", "cli", "operator.ts")], {
    cwd: REPO_ROOT,
    stdio: "ignore",
    env: {
      PATH: process.env["PATH"],
      KUBECONFIG: env.KUBECONFIG,
      POD_NAME: identity,
      GANTRY_WATCH_NAMESPACES: story.ns.name,
      GANTRY_LEADER_ELECTION: "true",
      GANTRY_LEASE_NAMESPACE: story.ns.name,
      GANTRY_HTTP_PORT: String(port),
      GANTRY_TRAINER_IMAGE: "gantry/trainer:e2e",
      GANTRY_REDIS_URL: env.REDIS_URL,
      GANTRY_S3_ENDPOINT: env.S3_ENDPOINT,
      GANTRY_CHECKPOINT_BASE: `s3://${env.S3_BUCKET}/checkpoints`,
      GANTRY_LOG_LEVEL: "warn",
    },
  });
  replicas.set(identity, child);
  return child;
}

const holder = async () => (await leases.readNamespacedLease({ name: "gantry-operator", namespace: story.ns.name })).spec?.holderIdentity;

beforeAll(async () => {
  await ensureCrd(env);
  story = await Story.open(env, kc, "e2e-ha");
  for (const n of ["a", "b"]) await story.addNode(n);
});

afterAll(async () => {
  for (const r of replicas.values()) r.kill("SIGKILL");
  await story?.close();
});

describe("operator failover", () => {
  it("the standby takes over from a killed leader mid-training; no pod is duplicated and the job succeeds", async () => {
    startReplica("replica-a", 38401);
    await waitFor("replica-a to lead", holder, (h) => h === "replica-a", { timeoutMs: 60_000 });
    startReplica("replica-b", 38402);
    await story.jobs.create("ha", story.spec({ steps: 200 }));
    await story.jobs.waitPhase("ha", "Running", 0, 120_000);
    await waitFor("the first checkpoint", () => story.manifest("ha", 4), (m) => m !== undefined, { timeoutMs: 120_000, intervalMs: 250 });
    replicas.get("replica-a")?.kill("SIGKILL");
    await waitFor("replica-b to lead", holder, (h) => h === "replica-b", { timeoutMs: 60_000 });

    const done = await story.jobs.waitPhase("ha", "Succeeded", undefined, 600_000);
    // Training never noticed: one attempt, no restarts, and exactly the gang's two pods were ever made.
    expect(done.status?.attempt).toBe(0);
    expect(done.status?.restarts).toEqual({ preemption: 0, failure: 0 });
    const created = (await story.jobs.events("ha")).filter((e) => e.reason === "GangCreated");
    expect(created.map((e) => e.message)).toEqual(["attempt 0: created 2 worker pod(s)"]);
    expect((await story.manifest("ha", 200))?.dataState.consumedSamples).toBe(200 * 4);
  }, 900_000);
});
