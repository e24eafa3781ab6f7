// Pipeline schedules, pure: the order in which one stage runs the forwards and backwards of a step's micro-batches.
//   GPipe: every forward, then every backward (activations of all m micro-batches live at the flush).
//   1F1B:  p − s − 1 warm-up forwards, then one forward and one backward in turn, then the remaining backwards
//          (PipeDream-Flush: at most p − s micro-batches in flight on stage s).
// Both run backwards in micro-batch order, so gradients accumulate in the same order and the two give the same bytes.
// simulateSchedule replays all stages with fixed forward/backward times to give the schedule's bubble fraction.

export type PipelineScheduleKind = "gpipe" | "1f1b";

export interface PipeAction {
  kind: "forward" | "backward";
  micro: number;
}

export function pipelineSchedule(kind: PipelineScheduleKind, stages: number, stage: number, micros: number): PipeAction[] {
  if (!(Number.isInteger(stages) && stages >= 1 && Number.isInteger(stage) && stage >= 0 && stage < stages)) throw new RangeError(`stage ${stage} of ${stages}`);
  if (!(Number.isInteger(micros) && micros >= 1)) throw new RangeError(`${micros} micro-batches`);
  const f = (micro: number): PipeAction => ({ kind: "forward", micro });
  const b = (micro: number): PipeAction => ({ kind: "backward", micro });
  const out: PipeAction[] = [];
  if (kind === "gpipe") {
    for (let i = 0; i < micros; i++) out.push(f(i));
    for (let i = 0; i < micros; i++) out.push(b(i));
    return out;
  }
  const warmup = Math.min(stages - stage - 1, micros);
  for (let i = 0; i < warmup; i++) out.push(f(i));
  for (let i = 0; i < micros - warmup; i++) out.push(f(warmup + i), b(i));
  for (let i = micros - warmup; i < micros; i++) out.push(b(i));
  return out;
}

/** Micro-batches whose activations a stage holds at once under a schedule (its peak). */
export function peakInFlight(actions: readonly PipeAction[]): number {
  let live = 0;
  let peak = 0;
  for (const a of actions) {
    live += a.kind === "forward" ? 1 : -1;
    peak = Math.max(peak, live);
  }
  return peak;
}

/** The idle share of a synchronous pipeline with equal stages: (p − 1) / (m + p − 1). */
export const theoreticalBubble = (stages: number, micros: number): number => (stages - 1) / (micros + stages - 1);

export interface Simulation {
  /** Time from the first forward's start to the last backward's end. */
  makespan: number;
  /** 1 − busy / (stages × makespan). */
  bubble: number;
}

/**
 * Replays every stage's actions with forward time tf and backward time tb per micro-batch and stage: F(s, i) waits
 * for F(s − 1, i), B(s, i) for B(s + 1, i), and each stage runs its own list in order.
 */
export function simulateSchedule(kind: PipelineScheduleKind, stages: number, micros: number, tf = 1, tb = 2): Simulation {
  const lists = Array.from({ length: stages }, (_, s) => pipelineSchedule(kind, stages, s, micros));
  const done = new Map<string, number>();
  const key = (k: string, s: number, i: number) => `${k}${s}:${i}`;
  const clock = new Array<number>(stages).fill(0);
  const next = new Array<number>(stages).fill(0);
  let remaining = lists.reduce((n, l) => n + l.length, 0);
  while (remaining > 0) {
    let progressed = false;
    for (let s = 0; s < stages; s++) {
      const a = (lists[s] as PipeAction[])[next[s] as number];
      if (a === undefined) continue;
      const dep = a.kind === "forward" ? (s === 0 ? 0 : done.get(key("F", s - 1, a.micro))) : s === stages - 1 ? done.get(key("F", s, a.micro)) : done.get(key("B", s + 1, a.micro));
      if (dep === undefined) continue;
      const end = Math.max(clock[s] as number, dep) + (a.kind === "forward" ? tf : tb);
      clock[s] = end;
      done.set(key(a.kind === "forward" ? "F" : "B", s, a.micro), end);
      next[s] = (next[s] as number) + 1;
      remaining--;
      progressed = true;
    }
    if (!progressed) throw new Error(`schedule ${kind} deadlocks with ${stages} stages and ${micros} micro-batches`);
  }
  const makespan = Math.max(...clock);
  return { makespan, bubble: 1 - (micros * (tf + tb) * stages) / (stages * makespan) };
}
