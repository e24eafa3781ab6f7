// Which groups one rank joins, pure: for each, its address-book namespace, its members (global ranks) and this rank's
// place in it. The order of `rings` and then `prev`/`next` is the order every rank connects them in: the same on
// every rank, so no rank waits in one group's rendezvous for a peer that waits in another's.
import { coordsOf, dataGroup, embeddingGroup, modelGroup, pipelineGroup, rankOf, tensorGroup, type ParallelDegrees, type RankCoords } from "../parallel/layout.js";

export type RingRole = "tensor" | "data" | "model" | "embedding";

export interface RingPlan {
  role: RingRole;
  /** The address book namespace, e.g. "tp.<dp>.<pp>". */
  name: string;
  /** Global ranks, indexed by group-local rank. */
  members: number[];
  localRank: number;
}

export interface ChannelPlan {
  /** "pp.<dp>.<tp>.<stage>-<stage+1>". */
  name: string;
  peer: number;
  /** 0 on the earlier stage (it accepts), 1 on the later one (it dials). */
  side: 0 | 1;
}

export interface GroupPlan {
  coords: RankCoords;
  /** Every sub-group ring, in connection order; one of a single member becomes a SoloCollective without a connection. */
  rings: RingPlan[];
  prev?: ChannelPlan;
  next?: ChannelPlan;
}

export function planGroups(d: ParallelDegrees, rank: number): GroupPlan {
  const c = coordsOf(d, rank);
  const ring = (role: RingRole, name: string, members: number[]): RingPlan => ({ role, name, members, localRank: members.indexOf(rank) });
  const rings = [ring("tensor", `tp.${c.dp}.${c.pp}`, tensorGroup(d, rank)), ring("data", `dp.${c.tp}.${c.pp}`, dataGroup(d, rank)), ring("model", `mp.${c.dp}`, modelGroup(d, rank))];
  const emb = embeddingGroup(d, rank);
  if (emb !== undefined) rings.push(ring("embedding", `emb.${c.dp}.${c.tp}`, emb));
  const link = (stage: number) => `pp.${c.dp}.${c.tp}.${stage}-${stage + 1}`;
  const pipe = pipelineGroup(d, rank);
  return {
    coords: c,
    rings,
    ...(c.pp > 0 ? { prev: { name: link(c.pp - 1), peer: pipe[c.pp - 1] as number, side: 1 as const } } : {}),
    ...(c.pp < d.pp - 1 ? { next: { name: link(c.pp), peer: rankOf(d, { ...c, pp: c.pp + 1 }), side: 0 as const } } : {}),
  };
}
