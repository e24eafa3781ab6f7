// The ring's reduce-scatter and all-gather of owned ranges on loopback: the owned sums are bitwise allReduceSum's
// when the owned ranges are its chunks (ZeRO's layout), the order is the documented one for any ranges, and a
// gather restores every rank's range everywhere.
import { afterEach, describe, expect, it } from "vitest";
import type { Range } from "../../src/collective/collective.js";
import { connectCollective } from "../../src/collective/connect-ring.js";
import { MemoryAddressBook } from "../../src/collective/rendezvous.js";
import type { RingCollective } from "../../src/collective/ring-collective.js";
import { shardRanges } from "../../src/zero/shard-layout.js";

const open: RingCollective[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.abort("test over");
});

async function ring(n: number, pieceBytes = 8): Promise<RingCollective[]> {
  const book = new MemoryAddressBook(`shards-${n}-${Math.random()}`);
  const ranks = (await Promise.all(Array.from({ length: n }, (_, rank) => connectCollective({ rank, worldSize: n, book, advertiseHost: "127.0.0.1", rendezvousTimeoutMs: 5000, peerTimeoutMs: 2000, pieceBytes })))) as RingCollective[];
  open.push(...ranks);
  return ranks;
}

function values(seed: number, length: number): Float32Array {
  const out = new Float32Array(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x / 2 ** 32 - 0.5) * 10 ** ((x % 7) - 3);
  }
  return out;
}
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.slice().buffer));

describe("ring reduce-scatter and all-gather of owned ranges", () => {
  for (const n of [2, 3, 4]) {
    it(`${n} ranks: owned sums equal allReduceSum's bits with ZeRO's ranges; the gather gives everyone everything`, async () => {
      const ranks = await ring(n);
      const length = 37;
      const owned = shardRanges(length, n);
      const a = ranks.map((_, r) => values(r + 1, length));
      const b = a.map((x) => x.slice());
      await Promise.all(ranks.map((c, r) => c.allReduceSum([a[r] as Float32Array])));
      await Promise.all(ranks.map((c, r) => c.reduceScatterSum(b[r] as Float32Array, owned)));
      owned.forEach(([s, e], r) => expect(bits((b[r] as Float32Array).subarray(s, e))).toEqual(bits((a[0] as Float32Array).subarray(s, e))));
      await Promise.all(ranks.map((c, r) => c.allGatherOwned(b[r] as Float32Array, owned)));
      for (const x of b) expect(bits(x)).toEqual(bits(a[0] as Float32Array));
    });
  }

  it("sums owner r's range from rank r + 1 on, for arbitrary (uneven, empty, partial) ranges", async () => {
    const n = 4;
    const ranks = await ring(n, 16);
    const owned: Range[] = [[0, 3], [3, 3], [5, 40], [40, 41]];
    const inputs = ranks.map((_, r) => values(10 + r, 50));
    const copies = inputs.map((x) => x.slice());
    await Promise.all(ranks.map((c, r) => c.reduceScatterSum(copies[r] as Float32Array, owned)));
    owned.forEach(([s, e], r) => {
      for (let i = s; i < e; i++) {
        let acc = inputs[(r + 1) % n]?.[i] as number;
        for (let k = 2; k <= n; k++) acc = Math.fround(acc + (inputs[(r + k) % n]?.[i] as number));
        expect(copies[r]?.[i]).toBe(acc);
      }
    });
    // Outside every range nothing is promised, but a gather of the owned ranges leaves the rest untouched.
    const before = copies.map((x) => x.slice(41));
    await Promise.all(ranks.map((c, r) => c.allGatherOwned(copies[r] as Float32Array, owned)));
    copies.forEach((x, r) => expect(bits(x.subarray(41))).toEqual(bits(before[r] as Float32Array)));
    for (const x of copies) for (const [s, e] of owned) expect(bits(x.subarray(s, e))).toEqual(bits((copies[0] as Float32Array).subarray(s, e)));
  });

  it("rejects ranges that do not fit the buffer or the world", async () => {
    const [r0] = await ring(2);
    await expect(r0?.reduceScatterSum(new Float32Array(4), [[0, 2]])).rejects.toThrow(/2 ranks|world of 2/);
    await expect(r0?.allGatherOwned(new Float32Array(4), [[0, 2], [2, 5]])).rejects.toThrow(/not inside a buffer of 4/);
  });
});
