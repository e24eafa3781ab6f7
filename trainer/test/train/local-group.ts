// An in-process Collective for W ranks (test double): allReduceSum waits for every rank, then sums in rank order.
import type { Collective } from "../../src/collective/collective.js";

export class LocalGroup {
  private pending: { parts: Float32Array[]; resolve: () => void }[] = [];
  calls = 0;
  constructor(readonly worldSize: number) {}

  rank(rank: number): Collective {
    const reduce = (parts: Float32Array[]): Promise<void> => this.reduce(rank, parts);
    return {
      rank,
      worldSize: this.worldSize,
      allReduceSum: reduce,
      allGather: (data) => Promise.resolve([data]),
      broadcast: () => Promise.resolve(),
      barrier: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  }

  private reduce(rank: number, parts: Float32Array[]): Promise<void> {
    return new Promise((resolve) => {
      this.pending[rank] = { parts, resolve };
      if (this.pending.filter((p) => p !== undefined).length < this.worldSize) return;
      this.calls++;
      const all = this.pending;
      this.pending = [];
      const first = all[0] as { parts: Float32Array[] };
      first.parts.forEach((_, j) => {
        const sum = new Float32Array(first.parts[j]?.length ?? 0);
        for (const r of all) (r.parts[j] as Float32Array).forEach((x, i) => (sum[i] = (sum[i] as number) + x));
        for (const r of all) (r.parts[j] as Float32Array).set(sum);
      });
      for (const r of all) r.resolve();
    });
  }
}
