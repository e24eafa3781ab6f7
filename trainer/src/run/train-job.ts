// One rank's whole run, start to exit: join the world, restore the newest whole checkpoint and the data position it
// fenced, train step by step, checkpoint on schedule and on a stop every rank agreed to, and report progress.
// The shell (cli/train.ts, main.ts) makes the clients and maps the outcome or error to an exit code.
import { createHash } from "node:crypto";
import { progressKey, type JobSpec } from "@gantry/crds";
import { RedisResumeStore, canonicalJson, resolveResume, type ResumeState } from "@gantry/dataloader";
import type { Redis } from "ioredis";
import type { Client } from "minio";
import { selectBackend, type BackendName } from "../backend/select-backend.js";
import { CheckpointReader } from "../checkpoint/checkpoint-reader.js";
import { openCheckpointStore, type CheckpointStore } from "../checkpoint/checkpoint-store.js";
import { CheckpointWriter, type CommittedCheckpoint } from "../checkpoint/checkpoint-writer.js";
import { CorruptCheckpointError } from "../checkpoint/errors.js";
import type { NamedArray } from "../checkpoint/named-array.js";
import type { Collective } from "../collective/collective.js";
import { connectCollective } from "../collective/connect-ring.js";
import { connectProcessGroups, type ProcessGroups } from "../collective/process-groups.js";
import { RedisAddressBook } from "../collective/rendezvous.js";
import { flopsPerToken, parameterCount } from "../model/param-layout.js";
import { Trainer } from "../train/trainer.js";
import { modelParallelRanks, trainConfigFromSpec } from "../train/train-config.js";
import { consolidateState } from "../parallel/consolidate.js";
import { layoutLabel } from "../parallel/layout.js";
import { splitModelSetup } from "./split-model-setup.js";
import { lossCurveSvg, type LossPoint } from "../runtime/loss-plot.js";
import type { TrainerLogger } from "../runtime/log.js";
import { ProgressThrottle, etaSeconds, progressFields } from "../runtime/progress-record.js";
import { ConfigError, type RunConfig } from "../runtime/run-config.js";
import type { StopSignal } from "../runtime/stop-signal.js";
import { openDataFeed, readValidationSet, type DataFeed } from "./data-feed.js";
import { objectiveForSpec, type TrainingSetup } from "./objective-for-spec.js";

export const CODE_VERSION = `gantry-trainer/${process.env["GANTRY_CODE_VERSION"] ?? "0.1.0"}`;
/** Checkpoint-root files rank 0 keeps current: the loss history (for the plot across restarts) and the plot. */
export const LOSS_HISTORY = "losses.json";
export const LOSS_PLOT = "loss.svg";

export interface StepReport {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
}

export interface RunDeps {
  log: TrainerLogger;
  stop: StopSignal;
  redis?: Redis;
  s3?: Client;
  backendOrder?: readonly BackendName[];
  /** Every optimizer step on rank 0 (the CLI's progress bar). */
  onStep?: (r: StepReport) => void;
  /** How often rank 0 publishes progress to Redis (default 5 s). */
  progressIntervalMs?: number;
  /** Ring timeouts; tests shorten them. */
  peerTimeoutMs?: number;
  rendezvousTimeoutMs?: number;
}

export interface RunOutcome {
  kind: "finished" | "preempted";
  /** Optimizer steps completed. */
  step: number;
  backend: BackendName;
  checkpoint?: CommittedCheckpoint;
  losses: LossPoint[];
  validation: LossPoint[];
}

/** The loss history file at the checkpoint root: training loss per step, validation loss per evaluation. */
export interface LossHistory {
  train: LossPoint[];
  validation: LossPoint[];
}

/** Hash of what must not change across a resume: the model, the optimisation and the data. */
export function configHash(spec: JobSpec): string {
  // The run's length and logging may change between attempts; nothing else may.
  const training = { ...spec.training, steps: undefined, tokens: undefined, logEverySteps: undefined };
  return createHash("sha256").update(canonicalJson({ model: spec.model, training, data: { ...spec.data, prefetchBytes: undefined, s3: undefined } })).digest("hex");
}

async function readLosses(store: CheckpointStore, before: number): Promise<LossHistory> {
  const empty: LossHistory = { train: [], validation: [] };
  const bytes = await store.read(LOSS_HISTORY).catch(() => undefined);
  if (bytes === undefined) return empty;
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LossHistory>;
    // Entries past the checkpoint being resumed belong to an abandoned future: drop them.
    const keep = (ps: unknown) => (Array.isArray(ps) ? (ps as LossPoint[]).filter((p) => typeof p.step === "number" && p.step < before) : []);
    return { train: keep(parsed.train), validation: keep(parsed.validation) };
  } catch {
    return empty;
  }
}

export async function runTrainingJob(cfg: RunConfig, deps: RunDeps): Promise<RunOutcome> {
  const { log, stop } = deps;
  const { spec, rank, worldSize, attempt } = cfg;
  const backend = await selectBackend({ logger: log, ...(deps.backendOrder ? { order: deps.backendOrder } : {}) });
  const train = trainConfigFromSpec(spec);
  const total = train.schedule.totalSteps;
  const context = train.model.contextLength;
  const tokensPerStep = train.globalBatchSize * context;
  log.info("model", { parameters: parameterCount(train.model), flopsPerToken: flopsPerToken(train.model), totalSteps: total, worldSize, backend });

  if (worldSize > 1 && deps.redis === undefined) throw new ConfigError(`a world of ${worldSize} ranks meets through Redis, but ${"REDIS_URL"} is not set`);
  const connect = {
    rank,
    worldSize,
    book: new RedisAddressBook(deps.redis as Redis, cfg.job.uid, attempt),
    advertiseHost: cfg.host,
    // The pod's own IP: several pods on one host (the local node agent) each bind their own address.
    listenHost: cfg.host,
    port: cfg.port,
    ...(deps.peerTimeoutMs === undefined ? {} : { peerTimeoutMs: deps.peerTimeoutMs }),
    ...(deps.rendezvousTimeoutMs === undefined ? {} : { rendezvousTimeoutMs: deps.rendezvousTimeoutMs }),
  };
  // A split model (tensor or pipeline parallel) talks in groups: the Trainer's collective is the data-parallel
  // group, the world ring keeps barriers, stop votes and validation.
  const split = modelParallelRanks(train) > 1;
  const groups: ProcessGroups | undefined = split
    ? await connectProcessGroups({ ...connect, tensorParallel: train.modelParallel?.tensorParallel ?? 1, pipelineParallel: train.modelParallel?.pipelineParallel ?? 1 })
    : undefined;
  const world: Collective = groups?.world ?? (await connectCollective(connect));
  const collective: Collective = groups?.data ?? world;
  if (groups !== undefined) log.info("layout", { layout: layoutLabel(groups.degrees), dp: groups.coords.dp, tp: groups.coords.tp, pp: groups.coords.pp });
  let feed: DataFeed | undefined;
  let trainer: Trainer | undefined;
  let setup: TrainingSetup | undefined;
  try {
    const store = openCheckpointStore(cfg.checkpointUri, deps.s3);
    const latest = await new CheckpointReader(store).latest();
    for (const s of latest?.skipped ?? []) log.warn("checkpoint skipped", { dir: s.dir, reason: s.reason });
    const resumeStore = deps.redis === undefined ? undefined : new RedisResumeStore(deps.redis, cfg.job.uid);
    let resume: ResumeState | undefined;
    if (latest !== undefined) {
      const fromCheckpoint = latest.manifest.dataState as ResumeState;
      const decision = resolveResume({ jobUid: cfg.job.uid, checkpointStep: latest.step, fromRedis: await resumeStore?.read(latest.step), fromCheckpoint, fingerprint: fromCheckpoint.fingerprint });
      if (decision.kind === "resume") resume = decision.state;
      log.info("resuming", { checkpoint: latest.dir, step: latest.step, dataStateFrom: decision.kind === "resume" ? decision.origin : "fresh" });
    }
    // Fence out older attempts before this one commits anything (rank 0 is the only committer).
    if (rank === 0) await resumeStore?.claim(attempt, latest?.step ?? -1);
    // Data goes by data-parallel rank: the tensor and pipeline peers of a replica read the same rows.
    const place = { jobUid: cfg.job.uid, attempt, rank: groups?.coords.dp ?? rank, worldSize: groups?.degrees.dp ?? worldSize, contextLength: context, collective };
    feed = await openDataFeed(spec.data, spec.training, place, deps.s3, resume);

    // What is trained (all weights, or adapters on a frozen pretrained base) and where it starts.
    setup = await objectiveForSpec(spec, train, deps.s3 === undefined ? {} : { s3: deps.s3 });
    let local = (arrays: NamedArray[]): NamedArray[] => arrays;
    if (groups !== undefined) ({ setup, local } = splitModelSetup(setup, spec, train, groups));
    log.info("objective", { kind: setup.plan.kind, trainable: setup.counts.trainable, parameters: setup.counts.model });
    let start = 0;
    if (latest !== undefined) {
      setup.checkResume(latest.manifest, `${cfg.checkpointUri.replace(/\/$/, "")}/${latest.dir}`);
      const weights = local(latest.weights);
      trainer = new Trainer(train, collective, { params: weights, objective: setup.objective });
      trainer.importState({ params: weights, optimizer: local(latest.optimizer) });
      if (trainer.optimizerSteps !== latest.step) throw new CorruptCheckpointError(latest.dir, `its optimizer has taken ${trainer.optimizerSteps} steps, its manifest says ${latest.step}`);
      start = latest.step;
    } else {
      // Every rank initialises from the same seed; rank 0's copy is broadcast anyway, so the world starts identical.
      const params = setup.initial();
      for (const p of params) if (p.data instanceof Float32Array) await collective.broadcast(p.data, 0);
      trainer = new Trainer(train, collective, { params, objective: setup.objective });
    }
    const history = rank === 0 ? await readLosses(store, start) : { train: [], validation: [] };
    const losses = history.train;
    const validationSet = await readValidationSet(spec.data, spec.training, place, deps.s3);
    const evaluate = async (done: number) => {
      if (validationSet === undefined) return;
      let sum = 0;
      for (const rows of validationSet) sum += await (trainer as Trainer).evaluate(rows);
      const mean = Float32Array.of(sum / validationSet.length);
      await world.allReduceSum([mean]);
      const loss = (mean[0] ?? NaN) / worldSize;
      if (rank === 0) {
        history.validation.push({ step: done - 1, loss });
        log.info("validation", { step: done - 1, loss, perplexity: Math.exp(loss) });
      }
    };
    const writer = new CheckpointWriter(store, { keep: spec.checkpointing.keepLast, codeVersion: CODE_VERSION });
    const hash = configHash(spec);
    let lastCheckpoint: CommittedCheckpoint | undefined;
    let lastSaveAt = Date.now();
    let failure: unknown;
    let pending: Promise<CommittedCheckpoint | undefined> = Promise.resolve(undefined);
    const publish = (fields: Record<string, string>) => {
      if (rank !== 0 || deps.redis === undefined) return;
      deps.redis.hset(progressKey(cfg.job.uid), fields).catch((err: unknown) => log.warn("progress not published", { error: String(err) }));
    };

    // The step of the last save begun, known to every rank alike (lastCheckpoint is rank 0's and lags its upload):
    // a save is collective for a split model or under ZeRO, so every rank must decide it the same way.
    let lastSaveStep = -1;
    const checkpoint = async (step: number): Promise<void> => {
      lastSaveStep = step;
      const dataState = await (feed as DataFeed).stateAt(step);
      lastSaveAt = Date.now();
      const t = trainer as Trainer;
      // A split model is saved whole: replica 0's model group gathers its shards (every rank exports: ZeRO gathers).
      let whole: Awaited<ReturnType<Trainer["exportState"]>> | undefined;
      if (groups !== undefined) {
        // Other replicas hold the same values: they only take part in a ZeRO export's data-group all-gather.
        if (groups.coords.dp !== 0 && t.memory.zeroStage === 0) return;
        const mine = await t.exportState();
        if (groups.coords.dp !== 0) return;
        whole = await consolidateState(train.model, groups.degrees, rank, groups.model, mine);
        if (rank !== 0) return;
      }
      // Under ZeRO every rank saves its own shard (no collective: the step loop's collectives must stay in step).
      const stage = t.memory.zeroStage;
      const sharded = stage !== 0 && worldSize > 1 && groups === undefined ? { stage, shard: await t.exportShard(), saveId: `${attempt}:${step}` } : undefined;
      if (rank !== 0) {
        if (sharded === undefined) return;
        const previous = pending;
        const own = writer.saveShard({ step, rank, worldSize, saveId: sharded.saveId, shard: sharded.shard });
        own.catch(() => undefined); // observed through pending
        pending = previous.then(() => own).then(() => undefined);
        pending.catch((err: unknown) => (failure ??= err));
        return;
      }
      const state =
        whole !== undefined
          ? whole
          : sharded === undefined
          ? await t.exportState()
          : { params: sharded.stage === 3 ? [] : await t.exportParams(), optimizer: [] };
      const sharding =
        sharded === undefined
          ? undefined
          : { zeroStage: sharded.stage, worldSize, saveId: sharded.saveId, tensors: t.objective.trainable, ranges: t.shardParamRanges(), own: sharded.shard, paramsSharded: sharded.stage === 3 };
      const snapshot: LossHistory = { train: [...history.train], validation: [...history.validation] };
      const previous = pending;
      pending = (async () => {
        await previous;
        // The history goes first: a resume keeps the entries before its checkpoint's step, so a history that runs
        // ahead of the newest committed checkpoint is harmless, and one that lags behind it cannot happen.
        await store.write(LOSS_HISTORY, new TextEncoder().encode(JSON.stringify(snapshot)));
        const c = await writer.save({
          step,
          weights: state.params,
          optimizer: state.optimizer,
          ...(sharding === undefined ? {} : { sharding }),
          tokensSeen: step * tokensPerStep,
          worldSize,
          configHash: hash,
          datasetFingerprint: (feed as DataFeed).fingerprint,
          dataState,
          // Enough to rebuild the model from the checkpoint alone (gantry-generate, the Hugging Face export).
          extra: {
            model: JSON.stringify(train.model),
            tokenizer: spec.data.tokenizer,
            ...setup?.checkpointExtra,
            // The layout it was saved from (dp x tp x pp); the files hold the whole model, loadable at any layout.
            ...(groups === undefined ? {} : { layout: layoutLabel(groups.degrees) }),
          },
        });
        // The data position commits only after the checkpoint it belongs to: the fence's step is the checkpoint's.
        await resumeStore?.commit(dataState);
        await store.write(LOSS_PLOT, new TextEncoder().encode(lossCurveSvg(`${cfg.job.name}: loss`, snapshot.train, snapshot.validation)));
        lastCheckpoint = c;
        log.info("checkpoint committed", { step: c.step, uri: c.uri, pruned: c.pruned });
        publish(progressFields({ step, totalSteps: total, loss: snapshot.train.at(-1)?.loss ?? NaN, tokensPerSecond: 0, checkpoint: { step: c.step, uri: c.uri, time: new Date().toISOString() } }));
        return c;
      })();
      pending.catch((err: unknown) => (failure ??= err));
    };

    const throttle = new ProgressThrottle(deps.progressIntervalMs ?? 5000);
    let secondsPerStep = 0;
    const everyMs = (spec.checkpointing.everyMinutes ?? 0) * 60_000;
    for (let step = start; step < total; step++) {
      // A step can finish on microtasks alone; give timers and sockets (a background checkpoint upload) their turn.
      await new Promise((resolve) => setImmediate(resolve));
      const began = performance.now();
      const rows = await feed.rows(step);
      const stats = await trainer.stepWithStats(step, rows);
      const done = step + 1;
      const seconds = (performance.now() - began) / 1000;
      secondsPerStep = secondsPerStep === 0 ? seconds : 0.9 * secondsPerStep + 0.1 * seconds;
      const tokensPerSecond = tokensPerStep / secondsPerStep;
      if (rank === 0) {
        losses.push({ step, loss: stats.loss });
        deps.onStep?.({ step: done, totalSteps: total, loss: stats.loss, lr: stats.lr, tokensPerSecond });
        if (step % spec.training.logEverySteps === 0 || done === total) log.info("step", { step, loss: stats.loss, lr: stats.lr, gradNorm: stats.gradNorm, tokensPerSecond: Math.round(tokensPerSecond) });
        else log.debug("step", { step, loss: stats.loss });
        const sample = { step: done, totalSteps: total, loss: stats.loss, tokensPerSecond, etaSeconds: etaSeconds(total - done, secondsPerStep) };
        if (throttle.due(Date.now(), sample)) publish(progressFields(sample));
      }
      if (failure !== undefined) throw failure;
      const every = spec.data.validation?.everySteps;
      if (every !== undefined && (done % every === 0 || done === total)) await evaluate(done);
      const vote = await stop.vote(world, rank === 0 && everyMs > 0 && Date.now() - lastSaveAt >= everyMs);
      if (vote.stop) {
        log.warn("stopping", { step: done, reason: stop.reason });
        if (spec.checkpointing.saveOnPreemption && done !== lastSaveStep) await checkpoint(done);
        await pending;
        if (failure !== undefined) throw failure;
        await world.barrier();
        return { kind: "preempted", step: done, backend, ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}), losses, validation: history.validation };
      }
      if (done === total || done % spec.checkpointing.everySteps === 0 || vote.save) await checkpoint(done);
    }
    await pending;
    if (failure !== undefined) throw failure;
    // Rank 0 exits 0 only after the final checkpoint committed; the others wait for it, so none exits early.
    await world.barrier();
    return { kind: "finished", step: total, backend, ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}), losses, validation: history.validation };
  } finally {
    trainer?.dispose();
    setup?.dispose();
    await feed?.close().catch(() => undefined);
    await (groups ?? world).close().catch(() => undefined);
  }
}
