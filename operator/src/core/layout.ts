// How an attempt's ranks split into data, tensor and pipeline parallelism, for a given worker count. Pure.
// The spec's rules check this for spec.workers; an elastic attempt may run with fewer, so the operator checks again.
import type { JobSpec } from "@gantry/crds";

export type LayoutSpec = Pick<JobSpec, "parallelism" | "resources" | "training">;

export interface ParallelLayout {
  dataParallel: number;
  tensorParallel: number;
  pipelineParallel: number;
  /** "DPxTPxPP", as kubectl get shows it. */
  layout: string;
}

/** Why a worker count cannot run the spec's parallelism. */
export class LayoutError extends Error {
  constructor(
    readonly workers: number,
    readonly ranks: number,
    readonly reason: "no-workers" | "model-parallel" | "batch",
    message: string,
  ) {
    super(message);
    this.name = "LayoutError";
  }
}

export const ranksFor = (spec: LayoutSpec, workers: number): number => workers * Math.max(spec.resources.gpusPerWorker, 1);

/** The reason `workers` cannot run the spec, or undefined when it can. */
export function layoutProblem(spec: LayoutSpec, workers: number): LayoutError | undefined {
  const { tensorParallel: tp, pipelineParallel: pp } = spec.parallelism;
  const ranks = ranksFor(spec, workers);
  if (!Number.isInteger(workers) || workers < 1) return new LayoutError(workers, ranks, "no-workers", `${workers} workers run no ranks`);
  if (ranks % (tp * pp) !== 0) {
    return new LayoutError(workers, ranks, "model-parallel", `tensorParallel × pipelineParallel = ${tp * pp} does not divide ${ranks} ranks (${workers} workers)`);
  }
  const dp = ranks / (tp * pp);
  const { globalBatchSize, microBatchSize } = spec.training;
  if (globalBatchSize % (microBatchSize * dp) !== 0) {
    return new LayoutError(
      workers,
      ranks,
      "batch",
      `training.globalBatchSize ${globalBatchSize} is not a multiple of microBatchSize ${microBatchSize} × ${dp} data-parallel ranks (${workers} workers)`,
    );
  }
  return undefined;
}

export const layoutFits = (spec: LayoutSpec, workers: number): boolean => layoutProblem(spec, workers) === undefined;

/** The layout of an attempt with `workers` pods; throws LayoutError when that count cannot run the spec. */
export function parallelLayout(spec: LayoutSpec, workers: number): ParallelLayout {
  const problem = layoutProblem(spec, workers);
  if (problem) throw problem;
  const { tensorParallel, pipelineParallel } = spec.parallelism;
  const dataParallel = ranksFor(spec, workers) / (tensorParallel * pipelineParallel);
  return { dataParallel, tensorParallel, pipelineParallel, layout: `${dataParallel}x${tensorParallel}x${pipelineParallel}` };
}
