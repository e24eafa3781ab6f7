// An in-process tensor × pipeline × data grid (test double): every group is a LocalGroup (sums in the ring's order)
// and every stage boundary a pair of in-memory queues, so a whole grid of Trainers runs in one process without
// sockets. The real transport is collective/process-groups.ts; this is for fast equivalence tests.
import type { Collective, ShardCollective } from "../../src/collective/collective.js";
import { coordsOf, dataGroup, embeddingGroup, modelGroup, tensorGroup, worldSizeOf, type ParallelDegrees, type RankCoords } from "../../src/parallel/layout.js";
import type { ModelParallelLinks, StageChannel } from "../../src/parallel/model-parallel-objective.js";
import { LocalGroup } from "../train/local-group.js";

export interface GridRank extends ModelParallelLinks {
  rank: number;
  coords: RankCoords;
  data: ShardCollective;
}

/** Frames from one rank to another, in order; recv checks the tag as the TCP channel does. */
class Queue {
  private frames: { tag: number; data: Float32Array }[] = [];
  private waiting: ((f: { tag: number; data: Float32Array }) => void) | undefined;
  put(f: { tag: number; data: Float32Array }): void {
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      w(f);
    } else this.frames.push(f);
  }
  async take(tag: number): Promise<Float32Array> {
    const f = this.frames.shift() ?? (await new Promise<{ tag: number; data: Float32Array }>((resolve) => (this.waiting = resolve)));
    if (f.tag !== tag) throw new Error(`expected tag ${tag}, got ${f.tag}`);
    return f.data;
  }
}

export function localGrid(d: ParallelDegrees): GridRank[] {
  const world = worldSizeOf(d);
  const groups = new Map<string, LocalGroup>();
  const member = (kind: string, ranks: readonly number[], rank: number): ShardCollective => {
    const key = `${kind}:${ranks.join(",")}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = new LocalGroup(ranks.length);
      groups.set(key, g);
    }
    return g.rank(ranks.indexOf(rank));
  };
  const queues = new Map<string, Queue>();
  const queue = (from: number, to: number): Queue => {
    const key = `${from}>${to}`;
    let q = queues.get(key);
    if (q === undefined) {
      q = new Queue();
      queues.set(key, q);
    }
    return q;
  };
  const channel = (self: number, peer: number): StageChannel => ({
    send: (data, tag) => {
      queue(self, peer).put({ tag, data: data.slice() });
      return Promise.resolve();
    },
    recv: (tag) => queue(peer, self).take(tag),
  });
  const stride = d.tp * d.dp;
  return Array.from({ length: world }, (_, rank) => {
    const coords = coordsOf(d, rank);
    const emb = embeddingGroup(d, rank);
    const tensor: Collective = member("tp", tensorGroup(d, rank), rank);
    return {
      rank,
      coords,
      tensor,
      data: member("dp", dataGroup(d, rank), rank),
      model: member("mp", modelGroup(d, rank), rank),
      ...(emb === undefined ? {} : { embedding: member("emb", emb, rank) }),
      ...(coords.pp + 1 < d.pp ? { next: channel(rank, rank + stride) } : {}),
      ...(coords.pp > 0 ? { prev: channel(rank, rank - stride) } : {}),
    };
  });
}
