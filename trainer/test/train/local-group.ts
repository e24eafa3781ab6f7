// An in-process Collective for W ranks (test double). Each call waits for every rank, then computes the result in
// the ring's documented order as if one bucket held the whole buffer: chunk c (chunkBounds) of an all-reduce is
// summed x_c + x_{c+1} + … ; owner r's range of a reduce-scatter is summed from rank r + 1 on. Counts the calls.
import type { Range, ShardCollective } from "../../src/collective/collective.js";
import { chunkBounds } from "../../src/collective/ring-schedule.js";

type Pending = { data: unknown; resolve: (out: unknown) => void };

export class LocalGroup {
  private pending = new Map<string, Pending[]>();
  /** allReduceSum calls completed. */
  calls = 0;
  /** Every completed call by kind. */
  readonly counts: Record<string, number> = {};
  constructor(readonly worldSize: number) {}

  rank(rank: number): ShardCollective {
    return {
      rank,
      worldSize: this.worldSize,
      allReduceSum: async (parts) => {
        await this.meet("allReduceSum", rank, parts, (all) => this.sumParts(all as Float32Array[][]));
      },
      allGather: (data) => this.meet("allGather", rank, data, (all) => all.map((d) => (d as Float32Array).slice())) as Promise<Float32Array[]>,
      broadcast: async (data, root) => {
        await this.meet("broadcast", rank, data, (all) => {
          const src = (all[root] as Float32Array).slice();
          for (const d of all) (d as Float32Array).set(src);
        });
      },
      reduceScatterSum: async (data, owned) => {
        await this.meet("reduceScatterSum", rank, data, (all) => this.reduceScatter(all as Float32Array[], owned));
      },
      allGatherOwned: async (data, owned) => {
        await this.meet("allGatherOwned", rank, data, (all) => {
          const bufs = all as Float32Array[];
          owned.forEach(([s, e], r) => {
            const src = (bufs[r] as Float32Array).slice(s, e);
            for (const b of bufs) b.set(src, s);
          });
        });
      },
      barrier: async () => {
        await this.meet("barrier", rank, undefined, () => undefined);
      },
      close: () => Promise.resolve(),
    };
  }

  private meet(kind: string, rank: number, data: unknown, compute: (all: unknown[]) => unknown): Promise<unknown> {
    return new Promise((resolve) => {
      const list = this.pending.get(kind) ?? [];
      list[rank] = { data, resolve };
      this.pending.set(kind, list);
      if (list.filter((p) => p !== undefined).length < this.worldSize) return;
      this.pending.delete(kind);
      this.counts[kind] = (this.counts[kind] ?? 0) + 1;
      if (kind === "allReduceSum") this.calls++;
      const out = compute(list.map((p) => p.data));
      for (const p of list) p.resolve(out);
    });
  }

  /** Sums element i in rank order c, c+1, … (float32), c its chunk of the concatenated parts. */
  private sumParts(all: Float32Array[][]): void {
    const n = this.worldSize;
    const lengths = (all[0] ?? []).map((p) => p.length);
    const total = lengths.reduce((a, b) => a + b, 0);
    const flats = all.map((parts) => {
      const f = new Float32Array(total);
      let at = 0;
      for (const p of parts) {
        f.set(p, at);
        at += p.length;
      }
      return f;
    });
    const out = new Float32Array(total);
    for (let c = 0; c < n; c++) {
      const [s, e] = chunkBounds(total, n, c);
      for (let i = s; i < e; i++) {
        let acc = flats[c]?.[i] as number;
        for (let k = 1; k < n; k++) acc = Math.fround(acc + (flats[(c + k) % n]?.[i] as number));
        out[i] = acc;
      }
    }
    for (const parts of all) {
      let at = 0;
      for (const p of parts) {
        p.set(out.subarray(at, at + p.length));
        at += p.length;
      }
    }
  }

  private reduceScatter(bufs: Float32Array[], owned: readonly Range[]): void {
    const n = this.worldSize;
    owned.forEach(([s, e], r) => {
      for (let i = s; i < e; i++) {
        let acc = bufs[(r + 1) % n]?.[i] as number;
        for (let k = 2; k <= n; k++) acc = Math.fround(acc + (bufs[(r + k) % n]?.[i] as number));
        (bufs[r] as Float32Array)[i] = acc;
      }
    });
  }
}
