// The 3D layout of a gang, pure: each global rank's (dp, tp, pp) coordinates and the ranks of its groups.
// Megatron's order: tp varies fastest, then dp, then pp, so a TP group is consecutive ranks (one worker's GPUs when
// the operator gives a worker tp GPUs) and a pipeline stage is a contiguous block of tp·dp ranks.

export interface ParallelDegrees {
  dp: number;
  tp: number;
  pp: number;
}

export interface RankCoords {
  dp: number;
  tp: number;
  pp: number;
}

/** A degree or rank that does not fit the world; `field` names the spec field (or argument) at fault. */
export class LayoutError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = "LayoutError";
  }
}

const isPositiveInt = (n: number) => Number.isInteger(n) && n >= 1;

/** The degrees for a world of `worldSize` ranks split tp × pp ways; dp is what is left. */
export function parallelDegrees(worldSize: number, tp: number, pp: number): ParallelDegrees {
  if (!isPositiveInt(worldSize)) throw new LayoutError("worldSize", `${worldSize} is not a positive integer`);
  if (!isPositiveInt(tp)) throw new LayoutError("parallelism.tensorParallel", `${tp} is not a positive integer`);
  if (!isPositiveInt(pp)) throw new LayoutError("parallelism.pipelineParallel", `${pp} is not a positive integer`);
  if (worldSize % (tp * pp) !== 0) {
    throw new LayoutError("parallelism.tensorParallel", `tensorParallel × pipelineParallel = ${tp} × ${pp} = ${tp * pp} does not divide the world of ${worldSize} ranks`);
  }
  return { dp: worldSize / (tp * pp), tp, pp };
}

export const worldSizeOf = (d: ParallelDegrees): number => d.dp * d.tp * d.pp;

function checkRank(d: ParallelDegrees, rank: number): void {
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSizeOf(d)) throw new LayoutError("rank", `${rank} is not in [0, ${worldSizeOf(d)}) for layout ${layoutLabel(d)}`);
}

export function coordsOf(d: ParallelDegrees, rank: number): RankCoords {
  checkRank(d, rank);
  return { tp: rank % d.tp, dp: Math.floor(rank / d.tp) % d.dp, pp: Math.floor(rank / (d.tp * d.dp)) };
}

export function rankOf(d: ParallelDegrees, c: RankCoords): number {
  const inRange = (v: number, n: number) => Number.isInteger(v) && v >= 0 && v < n;
  if (!inRange(c.tp, d.tp) || !inRange(c.dp, d.dp) || !inRange(c.pp, d.pp)) {
    throw new LayoutError("coords", `(dp ${c.dp}, tp ${c.tp}, pp ${c.pp}) is outside layout ${layoutLabel(d)}`);
  }
  return c.tp + d.tp * (c.dp + d.dp * c.pp);
}

/** The ranks that differ from `rank` only along `axis`, in that axis's order. */
function along(d: ParallelDegrees, rank: number, axis: keyof RankCoords): number[] {
  const c = coordsOf(d, rank);
  return Array.from({ length: d[axis] }, (_, i) => rankOf(d, { ...c, [axis]: i }));
}

export const tensorGroup = (d: ParallelDegrees, rank: number): number[] => along(d, rank, "tp");
export const dataGroup = (d: ParallelDegrees, rank: number): number[] => along(d, rank, "dp");
export const pipelineGroup = (d: ParallelDegrees, rank: number): number[] => along(d, rank, "pp");

/** The tp·pp ranks holding one whole model replica (rank's dp index), ascending. */
export function modelGroup(d: ParallelDegrees, rank: number): number[] {
  const { dp } = coordsOf(d, rank);
  const out: number[] = [];
  for (let pp = 0; pp < d.pp; pp++) for (let tp = 0; tp < d.tp; tp++) out.push(rankOf(d, { dp, tp, pp }));
  return out.sort((a, b) => a - b);
}

/** The two ends of rank's pipeline, which both hold the tied embedding, when rank is one of them and pp > 1. */
export function embeddingGroup(d: ParallelDegrees, rank: number): number[] | undefined {
  const { pp } = coordsOf(d, rank);
  if (d.pp === 1 || (pp !== 0 && pp !== d.pp - 1)) return undefined;
  const pipe = pipelineGroup(d, rank);
  return [pipe[0] as number, pipe[pipe.length - 1] as number];
}

/** "dp x tp x pp", e.g. "2x2x1". */
export const layoutLabel = (d: ParallelDegrees): string => `${d.dp}x${d.tp}x${d.pp}`;
