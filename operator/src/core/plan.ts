// plan(job, observed, now): every decision the operator makes about one job, as a pure function. The reconciler
// performs the actions and writes the status; running plan again on what results asks for nothing more.
import { classifyExit, describeIssues, JobStatus, parseJob, type Condition, type LLMTrainingJob } from "@gantry/crds";
import { DEFAULT_BACKOFF, failureDelayMs, gangRetryDelayMs, type BackoffConfig } from "./backoff.js";
import { CONDITION, setCondition } from "./conditions.js";
import { elasticWorkers } from "./elastic-size.js";
import { layoutFits, parallelLayout } from "./layout.js";
import { jobSelector } from "./names.js";
import type { Observed, ObservedPod } from "./observed.js";

/** The job as the API server stores it: the spec is not trusted until parseJob accepts it. */
export interface StoredJob {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    creationTimestamp?: string | Date;
    [k: string]: unknown;
  };
  spec?: unknown;
  status?: unknown;
}

export type Action =
  | { type: "createService" }
  | { type: "createPdb"; minAvailable: number }
  | { type: "deletePdb" }
  | { type: "createPod"; attempt: number; worker: number; workers: number }
  | { type: "deletePod"; name: string; force: boolean }
  | { type: "deleteJob" }
  | { type: "event"; kind: "Normal" | "Warning"; reason: string; message: string };

export interface PlanConfig {
  backoff: BackoffConfig;
  /** A node NotReady for longer than this has lost its pods. */
  nodeLostSeconds: number;
  /** A pod still terminating this long after deletion (its node gone) is force-deleted. */
  forceDeleteSeconds: number;
}

export const DEFAULT_PLAN_CONFIG: PlanConfig = { backoff: DEFAULT_BACKOFF, nodeLostSeconds: 60, forceDeleteSeconds: 90 };

export interface Plan {
  actions: Action[];
  status: JobStatus;
  /** Run plan again after this long even if nothing changes (timeouts, backoff, TTL). */
  requeueAfterMs?: number;
  /** The validated job, when the spec is valid. */
  job?: LLMTrainingJob;
}

type Cause = { kind: "preemption" | "failure"; reason: string; message: string };

const TERMINAL = new Set(["Succeeded", "Failed"]);

function previousStatus(raw: unknown): JobStatus {
  const parsed = JobStatus.safeParse(raw ?? {});
  return parsed.success ? parsed.data : {};
}

const ms = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));

class Planner {
  readonly actions: Action[] = [];
  status: JobStatus;
  requeue: number | undefined;
  private readonly prev: JobStatus;

  constructor(
    readonly raw: StoredJob,
    readonly observed: Observed,
    readonly now: Date,
    readonly config: PlanConfig,
  ) {
    this.prev = previousStatus(raw.status);
    this.status = { ...this.prev, observedGeneration: raw.metadata.generation ?? 0 };
    this.status.attempt ??= 0;
    this.status.restarts ??= { preemption: 0, failure: 0 };
    this.status.selector = jobSelector(raw.metadata.uid);
  }

  get attempt(): number {
    return this.status.attempt ?? 0;
  }

  requeueIn(delayMs: number): void {
    const d = Math.max(0, Math.round(delayMs));
    this.requeue = this.requeue === undefined ? d : Math.min(this.requeue, d);
  }

  condition(type: string, status: Condition["status"], reason: string, message: string): void {
    this.status.conditions = setCondition(this.status.conditions ?? [], { type, status, reason, message }, this.now, this.raw.metadata.generation);
  }

  /** Sets the phase, with an event when it changes. */
  phase(phase: NonNullable<JobStatus["phase"]>, reason: string, message: string, warning = false): void {
    if (this.prev.phase !== phase) this.actions.push({ type: "event", kind: warning ? "Warning" : "Normal", reason, message });
    this.status.phase = phase;
  }

  deletePods(pods: readonly ObservedPod[]): void {
    for (const pod of pods) {
      if (pod.deletingSince === undefined) {
        this.actions.push({ type: "deletePod", name: pod.name, force: false });
      } else if (this.stuckTerminating(pod)) {
        this.actions.push({ type: "deletePod", name: pod.name, force: true });
      } else {
        this.requeueIn(this.config.forceDeleteSeconds * 1000);
      }
    }
  }

  /** Terminating on a node that is gone or lost, for longer than forceDeleteSeconds: the kubelet will never finish it. */
  stuckTerminating(pod: ObservedPod): boolean {
    if (pod.deletingSince === undefined || pod.nodeName === undefined) return false;
    const node = this.observed.nodes.get(pod.nodeName);
    const nodeLost = node === undefined || !node.ready;
    return nodeLost && this.now.getTime() - pod.deletingSince.getTime() >= this.config.forceDeleteSeconds * 1000;
  }

  counts(pods: readonly ObservedPod[], desired: number): void {
    const ready = pods.filter((p) => p.ready && p.deletingSince === undefined).length;
    this.status.workers = {
      desired,
      scheduled: pods.filter((p) => p.nodeName !== undefined).length,
      ready,
      succeeded: pods.filter((p) => p.phase === "Succeeded").length,
      failed: pods.filter((p) => p.phase === "Failed").length,
    };
    this.status.workersReady = `${ready}/${desired}`;
  }

  /** status.parallelism for the attempt's worker count; absent when no attempt runs (suspended) or the count cannot. */
  layout(job: LLMTrainingJob): void {
    const desired = this.status.workers?.desired ?? 0;
    if (layoutFits(job.spec, desired)) this.status.parallelism = parallelLayout(job.spec, desired);
    else delete this.status.parallelism;
  }

  finish(phase: "Succeeded" | "Failed", reason: string, message: string): void {
    this.phase(phase, reason, message, phase === "Failed");
    this.condition(phase === "Succeeded" ? CONDITION.succeeded : CONDITION.failed, "True", reason, message);
    this.condition(CONDITION.running, "False", reason, message);
    this.status.completionTime ??= this.now.toISOString();
    this.deletePods(this.observed.pods);
    if (this.observed.pdbExists) this.actions.push({ type: "deletePdb" });
  }

  /** Tears the gang down and moves to the next attempt, which resumes from the newest checkpoint. */
  restart(job: LLMTrainingJob, pods: readonly ObservedPod[], cause: Cause): void {
    const restarts = { ...(this.status.restarts ?? { preemption: 0, failure: 0 }) };
    restarts[cause.kind] += 1;
    this.status.restarts = restarts;
    if (cause.kind === "preemption" && restarts.preemption > job.spec.runPolicy.maxPreemptions) {
      this.finish("Failed", "PreemptionBudgetExceeded", `${restarts.preemption} preemptions exceed runPolicy.maxPreemptions (${job.spec.runPolicy.maxPreemptions}); last: ${cause.message}`);
      return;
    }
    if (cause.kind === "failure" && restarts.failure > job.spec.runPolicy.backoffLimit) {
      this.finish("Failed", "BackoffLimitExceeded", `${restarts.failure} failures exceed runPolicy.backoffLimit (${job.spec.runPolicy.backoffLimit}); last: ${cause.message}`);
      return;
    }
    this.deletePods(pods);
    // A restart is an attempt boundary: an elastic job that shrank tries its full size again.
    this.counts([], targetWorkers(job));
    const delay = cause.kind === "failure" ? failureDelayMs(restarts.failure, this.raw.metadata.uid, this.config.backoff) : 0;
    this.nextAttempt(delay);
    this.actions.push({ type: "event", kind: "Warning", reason: cause.reason, message: `attempt ${this.attempt - 1}: ${cause.message}; restarting the gang from the latest checkpoint` });
    this.status.phase = "Restarting";
    this.condition(CONDITION.restarting, "True", cause.reason, cause.message);
    this.condition(CONDITION.running, "False", cause.reason, cause.message);
  }

  nextAttempt(delayMs: number): void {
    this.status.attempt = this.attempt + 1;
    delete this.status.attemptStartTime;
    if (delayMs > 0) this.status.nextAttemptTime = new Date(this.now.getTime() + delayMs).toISOString();
    else delete this.status.nextAttemptTime;
    this.requeueIn(delayMs);
  }
}

/** The workers the spec asks for, within the elastic bounds. */
function targetWorkers(job: LLMTrainingJob): number {
  const e = job.spec.elastic;
  return e ? Math.min(Math.max(job.spec.workers, e.minWorkers), e.maxWorkers) : job.spec.workers;
}

/** Why the gang of this attempt can no longer make progress without a restart, if it cannot. */
function disruption(p: Planner, pods: readonly ObservedPod[], desired: number): Cause | undefined {
  const present = new Set(pods.map((pod) => pod.worker));
  for (let w = 0; w < desired; w++) {
    if (!present.has(w)) return { kind: "preemption", reason: "PodDeleted", message: `worker ${w} was deleted` };
  }
  for (const pod of pods) {
    if (pod.disruption) return { kind: "preemption", reason: pod.disruption.reason, message: `${pod.name}: ${pod.disruption.message}` };
    if (pod.deletingSince !== undefined) return { kind: "preemption", reason: "PodDeleted", message: `${pod.name} is being deleted` };
    if (pod.nodeName === undefined || pod.phase === "Succeeded") continue;
    const node = p.observed.nodes.get(pod.nodeName);
    if (node === undefined) return { kind: "preemption", reason: "NodeLost", message: `node ${pod.nodeName} of ${pod.name} is gone` };
    if (node.reclaiming) return { kind: "preemption", reason: "NodeReclaimed", message: `node ${pod.nodeName} of ${pod.name} is being reclaimed` };
    if (!node.ready && node.notReadySince && p.now.getTime() - node.notReadySince.getTime() >= p.config.nodeLostSeconds * 1000) {
      return { kind: "preemption", reason: "NodeNotReady", message: `node ${pod.nodeName} of ${pod.name} has been NotReady for over ${p.config.nodeLostSeconds}s` };
    }
  }
  return undefined;
}

export function plan(raw: StoredJob, observed: Observed, now: Date, config: PlanConfig = DEFAULT_PLAN_CONFIG): Plan {
  const p = new Planner(raw, observed, now, config);
  const done = (job?: LLMTrainingJob): Plan => {
    if (job) p.layout(job);
    const out: Plan = { actions: p.actions, status: p.status };
    if (p.requeue !== undefined) out.requeueAfterMs = p.requeue;
    if (job) out.job = job;
    return out;
  };

  // Terminal jobs only clean up, whatever their spec says now.
  if (p.status.phase !== undefined && TERMINAL.has(p.status.phase)) {
    p.deletePods(observed.pods);
    p.counts(observed.pods.filter((pod) => pod.attempt === p.attempt && pod.deletingSince === undefined), p.status.workers?.desired ?? 0);
    if (observed.pdbExists) p.actions.push({ type: "deletePdb" });
    const parsed = parseJob(raw);
    const ttl = parsed.ok ? parsed.job.spec.runPolicy.ttlSecondsAfterFinished : undefined;
    const completed = ms(p.status.completionTime);
    if (ttl !== undefined && completed !== undefined) {
      const left = completed + ttl * 1000 - now.getTime();
      if (left <= 0) p.actions.push({ type: "deleteJob" });
      else p.requeueIn(left);
    }
    return done();
  }

  const parsed = parseJob(raw);
  if (!parsed.ok) {
    const message = describeIssues(parsed.issues);
    if (p.status.conditions?.find((c) => c.type === CONDITION.invalid)?.status !== "True") {
      p.actions.push({ type: "event", kind: "Warning", reason: "InvalidSpec", message });
    }
    p.condition(CONDITION.invalid, "True", "InvalidSpec", message);
    p.status.phase = p.status.phase === "Running" || p.status.phase === undefined ? "Pending" : p.status.phase;
    p.deletePods(observed.pods);
    p.counts([], 0);
    delete p.status.parallelism;
    return done();
  }
  const job = parsed.job;
  if (p.status.conditions?.some((c) => c.type === CONDITION.invalid)) p.condition(CONDITION.invalid, "False", "ValidSpec", "the spec is valid");

  const start = ms(p.status.startTime);
  const deadline = job.spec.runPolicy.activeDeadlineSeconds;
  if (deadline !== undefined && start !== undefined) {
    const left = start + deadline * 1000 - now.getTime();
    if (left <= 0) {
      p.finish("Failed", "DeadlineExceeded", `the job ran longer than runPolicy.activeDeadlineSeconds (${deadline}s)`);
      return done(job);
    }
    p.requeueIn(left);
  }

  if (observed.progress) p.status.progress = observed.progress;
  const current = observed.pods.filter((pod) => pod.attempt === p.attempt);
  const stale = observed.pods.filter((pod) => pod.attempt !== p.attempt);
  p.deletePods(stale);

  if (job.spec.suspend) {
    p.deletePods(current);
    if (p.status.attemptStartTime !== undefined) p.nextAttempt(0);
    p.phase("Suspended", "Suspended", "spec.suspend is true: pods deleted, checkpoints and data state kept");
    p.condition(CONDITION.suspended, "True", "Suspended", "spec.suspend is true");
    p.condition(CONDITION.running, "False", "Suspended", "spec.suspend is true");
    p.counts([], 0);
    return done(job);
  }
  if (p.status.conditions?.some((c) => c.type === CONDITION.suspended && c.status === "True")) {
    p.condition(CONDITION.suspended, "False", "Resumed", "spec.suspend is false");
  }

  if (!observed.serviceExists) p.actions.push({ type: "createService" });

  // Not started yet: wait out the backoff and the previous gang, then create every worker at once.
  if (p.status.attemptStartTime === undefined) {
    // An elastic job that was scaled down keeps that size for this one attempt; everything else runs the spec's size.
    const shrunk = p.status.workers?.desired;
    const e = job.spec.elastic;
    const keepShrunk = e && shrunk !== undefined && shrunk >= e.minWorkers && shrunk <= e.maxWorkers && layoutFits(job.spec, shrunk);
    const wantWorkers = keepShrunk ? shrunk : targetWorkers(job);
    const notBefore = ms(p.status.nextAttemptTime);
    p.counts([], wantWorkers);
    if (notBefore !== undefined && notBefore > now.getTime()) {
      p.status.phase = p.status.phase ?? "Pending";
      p.requeueIn(notBefore - now.getTime());
      return done(job);
    }
    if (stale.length > 0 || current.length > 0) {
      // The previous gang must be gone before the next one takes its GPUs.
      p.status.phase = p.status.phase ?? "Pending";
      p.deletePods(current);
      p.requeueIn(1000);
      return done(job);
    }
    for (let w = 0; w < wantWorkers; w++) p.actions.push({ type: "createPod", attempt: p.attempt, worker: w, workers: wantWorkers });
    p.status.attemptStartTime = now.toISOString();
    p.status.startTime ??= now.toISOString();
    delete p.status.nextAttemptTime;
    p.phase("Scheduling", "GangCreated", `attempt ${p.attempt}: created ${wantWorkers} worker pod(s)`);
    p.condition(CONDITION.gangScheduled, "False", "WaitingForScheduling", `0/${wantWorkers} workers scheduled`);
    p.requeueIn(job.spec.scheduling.gangTimeoutSeconds * 1000);
    return done(job);
  }

  const desired = p.status.workers?.desired ?? job.spec.workers;
  if (!observed.pdbExists) p.actions.push({ type: "createPdb", minAvailable: desired });
  p.counts(current, desired);

  // Outcomes, most decisive first: success, permanent failure, disruption, retryable failure.
  const leader = current.find((pod) => pod.worker === 0);
  if (leader?.phase === "Succeeded") {
    p.finish("Succeeded", "Completed", `worker 0 finished after attempt ${p.attempt}`);
    return done(job);
  }
  const failed = current.filter((pod) => pod.phase === "Failed" && !pod.disruption);
  const verdicts = failed.map((pod) => ({ pod, verdict: classifyExit(pod.exit?.code ?? 1, pod.exit?.reason) }));
  const permanent = verdicts.find((v) => v.verdict.kind === "permanent");
  if (permanent) {
    const detail = permanent.pod.exit?.message ? `: ${permanent.pod.exit.message}` : "";
    p.finish("Failed", permanent.verdict.reason, `${permanent.pod.name} exited ${permanent.pod.exit?.code ?? "?"}${detail}`);
    return done(job);
  }
  const disrupted = disruption(p, current, desired);
  if (disrupted) {
    p.restart(job, current, disrupted);
    return done(job);
  }
  // A trainer that checkpointed on SIGTERM we did not send (node shutdown, kubelet eviction) was preempted.
  const preempted = verdicts.find((v) => v.verdict.kind === "preempted");
  if (preempted) {
    p.restart(job, current, { kind: "preemption", reason: "WorkerPreempted", message: `${preempted.pod.name} checkpointed and exited on SIGTERM` });
    return done(job);
  }
  const retryable = verdicts.find((v) => v.verdict.kind === "retryable");
  if (retryable) {
    const detail = retryable.pod.exit?.message ? `: ${retryable.pod.exit.message}` : "";
    p.restart(job, current, { kind: "failure", reason: retryable.verdict.reason, message: `${retryable.pod.name} exited ${retryable.pod.exit?.code ?? "?"}${detail}` });
    return done(job);
  }

  const scheduled = current.filter((pod) => pod.nodeName !== undefined).length;
  if (scheduled < desired) {
    const started = ms(p.status.attemptStartTime) ?? now.getTime();
    const timeoutMs = job.spec.scheduling.gangTimeoutSeconds * 1000;
    const waitedMs = now.getTime() - started;
    const unschedulable = current.find((pod) => pod.unschedulable !== undefined)?.unschedulable;
    if (waitedMs >= timeoutMs) {
      // Elastic: run with the most workers that fit and keep the layout valid, as a new attempt with that world size.
      const fewer = elasticWorkers(job.spec, scheduled);
      if (fewer !== undefined) {
        p.deletePods(current);
        p.nextAttempt(0);
        p.counts([], fewer);
        const why = fewer < scheduled ? ` (the most that tensorParallel × pipelineParallel and the batch divide)` : "";
        p.actions.push({ type: "event", kind: "Normal", reason: "ScaledDown", message: `only ${scheduled}/${desired} workers could be scheduled in ${job.spec.scheduling.gangTimeoutSeconds}s; restarting with ${fewer}${why}` });
        p.status.phase = "Restarting";
        return done(job);
      }
      // Release the partial gang so that it holds no GPUs another job could use, and try again later.
      p.deletePods(current);
      p.nextAttempt(gangRetryDelayMs(p.attempt, raw.metadata.uid, config.backoff));
      p.actions.push({ type: "event", kind: "Warning", reason: "GangTimeout", message: `only ${scheduled}/${desired} workers scheduled in ${job.spec.scheduling.gangTimeoutSeconds}s; released the gang${unschedulable ? `: ${unschedulable}` : ""}` });
      p.status.phase = "Scheduling";
      p.condition(CONDITION.gangScheduled, "False", "GangTimeout", `released after ${job.spec.scheduling.gangTimeoutSeconds}s with ${scheduled}/${desired} scheduled`);
      return done(job);
    }
    p.status.phase = "Scheduling";
    p.condition(
      CONDITION.gangScheduled,
      "False",
      unschedulable ? "WaitingForCapacity" : "WaitingForScheduling",
      unschedulable ? `${scheduled}/${desired} workers scheduled; ${unschedulable}` : `${scheduled}/${desired} workers scheduled`,
    );
    p.requeueIn(timeoutMs - waitedMs);
    return done(job);
  }

  p.condition(CONDITION.gangScheduled, "True", "AllScheduled", `${desired}/${desired} workers scheduled`);
  const ready = current.filter((pod) => pod.ready).length;
  if (ready === desired) {
    p.phase("Running", "Running", `attempt ${p.attempt}: all ${desired} workers running`);
    p.condition(CONDITION.running, "True", "AllWorkersReady", `${desired}/${desired} workers ready`);
    if (p.status.conditions?.some((c) => c.type === CONDITION.restarting && c.status === "True")) {
      p.condition(CONDITION.restarting, "False", "Running", `attempt ${p.attempt} is running`);
    }
  } else {
    p.status.phase = p.status.phase === "Running" ? "Running" : "Scheduling";
    p.condition(CONDITION.running, "False", "WaitingForWorkers", `${ready}/${desired} workers ready`);
  }
  return done(job);
}
