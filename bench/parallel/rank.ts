// One rank of bench-parallel, a child process of parallel.bench.ts: its own tfjs on the wasm backend, its process
// groups met through the parent's IPC address book, a Trainer (with a model-parallel objective unless it is the
// DP-only baseline) stepping on its data-parallel slice of the same global batch as every other configuration.
import { selectBackend } from "../../trainer/src/backend/select-backend.js";
import { connectProcessGroups, type ProcessGroups } from "../../trainer/src/collective/process-groups.js";
import { ModelParallelObjective } from "../../trainer/src/parallel/model-parallel-objective.js";
import { Trainer } from "../../trainer/src/train/trainer.js";
import { IpcAddressBook } from "../ipc-address-book.js";
import { benchTrainConfig, constantLr, syntheticRows } from "../trainer-setup.js";
import { isRankSpec, type FromRank, type RankSpec } from "./protocol.js";

const send = (m: FromRank) => process.send?.(m);

/** The global batch of step s, the same for every configuration; each DP rank takes its contiguous slice. */
export const globalRows = (spec: Pick<RankSpec, "globalBatch" | "model">, step: number): Int32Array[] =>
  syntheticRows(spec.globalBatch, spec.model.contextLength, spec.model.vocabSize, 31 * step + 1);

async function run(spec: RankSpec): Promise<void> {
  await selectBackend({ order: ["wasm"] });
  const groups: ProcessGroups = await connectProcessGroups({
    rank: spec.rank,
    worldSize: spec.worldSize,
    tensorParallel: spec.tp,
    pipelineParallel: spec.pp,
    book: new IpcAddressBook(),
    advertiseHost: "127.0.0.1",
    // 4 ranks on 2 cores: a neighbour may be descheduled for a while, which is not a lost peer.
    peerTimeoutMs: 300_000,
  });
  try {
    const config = benchTrainConfig(spec.model, spec.globalBatch, { microBatchSize: spec.microBatch, schedule: constantLr(1000) });
    const { coords } = groups;
    const objective = spec.plainDp
      ? undefined
      : new ModelParallelObjective(spec.model, { tp: spec.tp, pp: spec.pp, tpRank: coords.tp, stage: coords.pp }, groups, { schedule: spec.schedule, gradientCheckpointing: "none" });
    const trainer = new Trainer(config, groups.data, objective === undefined ? {} : { objective });
    const per = spec.globalBatch / groups.degrees.dp;
    const losses: number[] = [];
    const stepMs: number[] = [];
    let bytesSent = 0;
    const scheduleMs: number[] = [];
    const waitMs: number[] = [];
    for (let s = 0; s < spec.warmupSteps + spec.timedSteps; s++) {
      const rows = globalRows(spec, s).slice(per * coords.dp, per * (coords.dp + 1));
      // Every rank starts the step together, so a step's time is the slowest rank's and stages start aligned.
      await groups.world.barrier();
      const bytes0 = groups.bytesSent();
      const profile0 = objective === undefined ? undefined : { ...objective.profile };
      const began = performance.now();
      losses.push(await trainer.step(s, rows));
      if (s < spec.warmupSteps) continue;
      stepMs.push(performance.now() - began);
      bytesSent += groups.bytesSent() - bytes0;
      scheduleMs.push(objective === undefined || profile0 === undefined ? 0 : objective.profile.scheduleMs - profile0.scheduleMs);
      waitMs.push(objective === undefined || profile0 === undefined ? 0 : objective.profile.waitMs - profile0.waitMs);
    }
    const paramFloats = trainer.liveMemory().params / 4;
    const trainableFloats = trainer.objective.trainable.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    send({ kind: "result", rank: spec.rank, coords, losses, stepMs, bytesSent, scheduleMs, waitMs, paramFloats, trainableFloats });
    // Nobody closes a link while a peer may still be reading its last frames.
    await groups.world.barrier();
    trainer.dispose();
  } finally {
    await groups.close();
  }
}

process.once("message", (m: unknown) => {
  if (!isRankSpec(m)) return;
  run(m).then(
    () => process.disconnect(),
    (err: unknown) => {
      send({ kind: "error", rank: m.rank, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exitCode = 1;
      process.disconnect();
    },
  );
});
