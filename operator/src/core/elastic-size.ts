// The worker count of an elastic attempt that runs on less than the full gang. Pure.
import type { JobSpec } from "@gantry/crds";
import { layoutFits, type LayoutSpec } from "./layout.js";

/**
 * The largest count in [elastic.minWorkers, available] (and ≤ maxWorkers) whose ranks TP × PP divides and whose
 * data-parallel degree divides the batch; undefined when none does (or the job is not elastic), and the gang waits.
 */
export function elasticWorkers(spec: LayoutSpec & Pick<JobSpec, "elastic">, available: number): number | undefined {
  const e = spec.elastic;
  if (e === undefined) return undefined;
  for (let n = Math.min(Math.floor(available), e.maxWorkers); n >= e.minWorkers; n--) {
    if (layoutFits(spec, n)) return n;
  }
  return undefined;
}
