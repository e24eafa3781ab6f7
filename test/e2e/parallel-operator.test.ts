// Tensor × pipeline parallelism through the operator, end to end: a TP 2 × PP 2 job on 4 CPU worker pods (one rank
// each), real trainer processes on an agent-run node, the real Redis and S3. Mid-run one stage peer's trainer process
// is SIGKILLed: every other pod of that attempt exits retryable on its own (none waits out its grace period), the
// operator restarts the gang once as a failure, and the job succeeds with layout 1x2x2, a final whole checkpoint that
// records that layout, and bitwise the weights, moments and losses of its undisturbed twin.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT } from "@gantry/crds";
import type { Controller } from "../../operator/src/controller/controller.js";
import { stateDir } from "../support/cluster-env.js";
import { ensureCrd, kubeConfig } from "../support/kube.js";
import { agentContainerLog, agentPodDir } from "../support/node-agent.js";
import { AGENT_NODE_PLAN, startOperator } from "../support/operator.js";
import { waitFor } from "../support/wait.js";
import { Story } from "./support/story.js";

const env = inject("cluster");
const kc = kubeConfig(env);
let story: Story;
let operator: Controller;

const STEPS = 24;
const WORKERS = 4;
// Rank 2 is stage 1 of tensor rank 0 (Megatron order with dp = 1: rank = pp·tp + tp); one rank per pod, so worker 2.
const VICTIM = 2;
const PAIR = "gantry.dev/parallel-pair";

/** The story's job as TP 2 × PP 2 on four one-rank CPU pods, pinned to `pair`'s node. */
function parallelSpec(pair: string): Record<string, unknown> {
  const s = story.spec({ workers: WORKERS, steps: STEPS, scheduling: { nodeSelector: { "gantry.dev/test-pool": story.ns.name, [PAIR]: pair } } });
  return {
    ...s,
    model: { preset: "tiny", layers: 2, dModel: 32, heads: 2, contextLength: 16, dropout: 0.1 },
    resources: { gpusPerWorker: 0, cpu: "1", memory: "1Gi" },
    parallelism: { tensorParallel: 2, pipelineParallel: 2 },
  };
}

interface RawManifest {
  step: number;
  files: Record<string, { sha256: string }>;
  extra?: Record<string, string>;
}

async function rawManifest(job: string, step: number): Promise<RawManifest | undefined> {
  const bytes = await story.readObject(`${story.checkpointPrefix(job)}step-${String(step).padStart(8, "0")}/manifest.json`);
  return bytes === undefined ? undefined : (JSON.parse(bytes.toString("utf8")) as RawManifest);
}

/** What the node agent logged about one pod: its container's exit code, and whether it waited out its grace period. */
interface PodEnd {
  exitCode?: number;
  sigterm: boolean;
  killedAfterGrace: boolean;
}

/** Reads the agent's JSON log lines (test/node-agent/agent.ts) for the pods named `ns/name`. */
function podEnds(node: string, pods: readonly string[]): Map<string, PodEnd> {
  const ends = new Map<string, PodEnd>(pods.map((p) => [p, { sigterm: false, killedAfterGrace: false }]));
  const text = readFileSync(join(stateDir(), "cluster", "logs", `node-agent-${node}.log`), "utf8");
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { message: string; pod?: string; exitCode?: number };
    const end = entry.pod === undefined ? undefined : ends.get(entry.pod);
    if (end === undefined) continue;
    if (entry.message === "container exited" && entry.exitCode !== undefined) end.exitCode ??= entry.exitCode;
    if (entry.message === "pod deleted: SIGTERM") end.sigterm = true;
    if (entry.message === "grace period over: SIGKILL") end.killedAfterGrace = true;
  }
  return ends;
}

/** The trainer's own last word (trainer/src/main.ts logs "exiting" with the code it chose and the error). */
function trainerExit(log: string): { exitCode?: number; error?: string } | undefined {
  const line = log.split("\n").find((l) => l.includes('"message":"exiting"'));
  return line === undefined ? undefined : (JSON.parse(line) as { exitCode?: number; error?: string });
}

/** SIGKILLs the trainer process of a running pod, found through the pid file the agent keeps for its container. */
function killTrainer(pod: V1Pod): void {
  const pidFile = join(agentPodDir(story.ns.name, pod.metadata?.name ?? "", pod.metadata?.uid ?? ""), "trainer.pid");
  const pid = Number(readFileSync(pidFile, "utf8").split(" ")[0]);
  expect(Number.isInteger(pid) && pid > 1, `pid in ${pidFile}`).toBe(true);
  process.kill(pid, "SIGKILL");
}

beforeAll(async () => {
  await ensureCrd(env);
  story = await Story.open(env, kc, "parallel");
  operator = await startOperator(kc, env, story.ns.name, AGENT_NODE_PLAN);
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  await story?.close();
});

describe("TP 2 × PP 2 through the operator", () => {
  it("a dead stage peer ends its whole attempt, the gang restarts once and the job ends bitwise its undisturbed twin's", async () => {
    // One agent node per job: its CPU capacity holds the four one-rank pods.
    const node = await story.addNode("a", { [PAIR]: "story" }, 0);
    await story.addNode("b", { [PAIR]: "ref" }, 0);
    await story.jobs.create("tp-pp", parallelSpec("story"));
    await story.jobs.create("tp-pp-ref", parallelSpec("ref"));

    const running = await story.jobs.waitPhase("tp-pp", "Running", 0, 120_000);
    expect(running.status?.parallelism?.layout).toBe("1x2x2");
    // Mid-training: once the first checkpoint is in, stage 1's tensor rank 0 dies.
    await waitFor("tp-pp's first checkpoint", () => rawManifest("tp-pp", 4), (m) => m !== undefined, { timeoutMs: 180_000, intervalMs: 100 });
    const gang = await story.jobs.livePods("tp-pp");
    expect(gang.map((p) => p.metadata?.labels?.["gantry.dev/attempt"])).toEqual(Array(WORKERS).fill("0"));
    const victim = gang.find((p) => p.metadata?.labels?.["gantry.dev/worker"] === String(VICTIM));
    if (victim === undefined) throw new Error(`no worker ${VICTIM} among ${gang.map((p) => p.metadata?.name).join(", ")}`);
    killTrainer(victim);
    expect(await rawManifest("tp-pp", STEPS), "the kill came before the last checkpoint").toBeUndefined();

    // The whole attempt ends, within less than the 30 s grace period (and the 30 s link timeouts) a hung rank would
    // wait out: every pod of attempt 0 is gone.
    await waitFor("attempt 0's pods to go", () => story.jobs.pods("tp-pp"), (ps) => ps.every((p) => p.metadata?.labels?.["gantry.dev/attempt"] !== "0"), { timeoutMs: 25_000, intervalMs: 100 });
    const ends = podEnds(node, gang.map((p) => `${story.ns.name}/${p.metadata?.name ?? ""}`));
    for (const pod of gang) {
      const name = pod.metadata?.name ?? "";
      const end = ends.get(`${story.ns.name}/${name}`);
      const own = trainerExit(agentContainerLog(story.ns.name, name, pod.metadata?.uid ?? "", "trainer"));
      const detail = `${name}: agent ${JSON.stringify(end)}, trainer ${JSON.stringify(own)}`;
      expect(end?.killedAfterGrace, detail).toBe(false);
      if (pod === victim) {
        expect(end?.exitCode, detail).toBe(137);
        continue;
      }
      // Each peer saw a link fail (the victim's, or one its loss dropped) and chose the retryable code itself; the
      // operator's SIGTERM to the old gang, landing while the process closes, exits with that code (trainer main.ts).
      expect(own?.exitCode, detail).toBe(EXIT.retryable);
      expect(own?.error, detail).toMatch(/link to rank \d+ lost/);
      expect(end?.exitCode, detail).toBe(EXIT.retryable);
    }

    const done = await story.jobs.waitPhase("tp-pp", "Succeeded", undefined, 300_000);
    const reference = await story.jobs.waitPhase("tp-pp-ref", "Succeeded", undefined, 300_000);
    expect(done.status?.restarts, JSON.stringify(await story.jobs.events("tp-pp"))).toEqual({ preemption: 0, failure: 1 });
    expect(done.status?.attempt).toBe(1);
    expect(done.status?.parallelism?.layout).toBe("1x2x2");
    expect(reference.status?.restarts).toEqual({ preemption: 0, failure: 0 });

    const [mine, theirs] = [await rawManifest("tp-pp", STEPS), await rawManifest("tp-pp-ref", STEPS)];
    expect(mine?.step).toBe(STEPS);
    expect(mine?.extra?.["layout"]).toBe("1x2x2");
    expect(theirs?.extra?.["layout"]).toBe("1x2x2");
    // The whole model, consolidated by the model group: the same bytes as if no rank had died.
    for (const file of ["model.safetensors", "optimizer.safetensors"]) {
      expect(mine?.files[file]?.sha256, file).toMatch(/^[0-9a-f]{64}$/);
      expect(mine?.files[file]?.sha256, file).toBe(theirs?.files[file]?.sha256);
    }
    const [myLosses, theirLosses] = [(await story.losses("tp-pp")).train, (await story.losses("tp-pp-ref")).train];
    expect(myLosses.map((l) => l.step)).toEqual([...Array(STEPS).keys()]);
    expect(myLosses).toEqual(theirLosses);
  }, 600_000);
});
