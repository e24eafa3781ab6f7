// The ring on loopback, all ranks in this process, addresses exchanged through an in-memory book.
import { afterEach, describe, expect, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { connectCollective, type ConnectOptions } from "../../src/collective/connect-ring.js";
import { PeerLostError, RendezvousTimeoutError } from "../../src/collective/errors.js";
import { MemoryAddressBook } from "../../src/collective/rendezvous.js";
import { RingCollective } from "../../src/collective/ring-collective.js";

const open: RingCollective[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.abort("test over");
});

async function ring(n: number, extra: Partial<ConnectOptions> = {}): Promise<RingCollective[]> {
  const book = new MemoryAddressBook(`test-${n}-${Math.random()}`);
  const ranks = await Promise.all(Array.from({ length: n }, (_, rank) => connectCollective({ rank, worldSize: n, book, advertiseHost: "127.0.0.1", rendezvousTimeoutMs: 5000, peerTimeoutMs: 2000, ...extra })));
  for (const r of ranks) {
    expect(r).toBeInstanceOf(RingCollective);
    open.push(r as RingCollective);
  }
  return ranks as RingCollective[];
}

/** Deterministic floats of very different magnitudes, so that a different summation order changes the bits. */
function values(seed: number, length: number): Float32Array {
  const out = new Float32Array(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = ((x / 2 ** 32) - 0.5) * 10 ** ((x % 7) - 3);
  }
  return out;
}

/**
 * The documented order, computed independently: the parts are laid end to end and cut into buckets; each bucket into
 * n chunks, chunk c spanning [floor(c·len/n), floor((c+1)·len/n)); chunk c sums rank c, then c+1, …, in float32.
 */
function referenceSum(inputs: Float32Array[][], bucketElements: number): Float32Array[] {
  const n = inputs.length;
  const flats = inputs.map((parts) => Float32Array.from(parts.flatMap((p) => Array.from(p))));
  const total = flats[0]?.length ?? 0;
  const out = new Float32Array(total);
  for (let b0 = 0; b0 < total; b0 += bucketElements) {
    const len = Math.min(bucketElements, total - b0);
    for (let c = 0; c < n; c++) {
      for (let i = Math.floor((c * len) / n); i < Math.floor(((c + 1) * len) / n); i++) {
        let acc = flats[c]?.[b0 + i] as number;
        for (let k = 1; k < n; k++) acc = Math.fround(acc + (flats[(c + k) % n]?.[b0 + i] as number));
        out[b0 + i] = acc;
      }
    }
  }
  const lengths = inputs[0]?.map((p) => p.length) ?? [];
  let at = 0;
  return lengths.map((l) => out.slice(at, (at += l)));
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe("ring all-reduce", () => {
  for (const n of [2, 3, 4]) {
    it(`sums ${n} ranks bitwise in the documented order: odd, empty, shorter-than-world and multi-part inputs`, async () => {
      const bucketBytes = 13 * 4;
      // Pieces of 2 floats: chunks stream as several frames, forwarded one by one.
      const ranks = await ring(n, { bucketBytes, pieceBytes: 8 });
      const shapes = [[1], [0], [n - 1], [37], [5, 0, 12, 1, 29], [101]];
      for (const [s, lengths] of shapes.entries()) {
        const inputs = ranks.map((_, r) => lengths.map((l, p) => values(1000 * s + 10 * r + p, l)));
        const expected = referenceSum(inputs, 13);
        const naive = lengths.map((_, p) => inputs.reduce((acc, parts) => acc.map((v, i) => Math.fround(v + (parts[p]?.[i] as number))), new Float32Array(lengths[p] ?? 0)));
        await Promise.all(ranks.map((c, r) => c.allReduceSum(inputs[r] as Float32Array[])));
        for (const parts of inputs) expect(parts.map(bits)).toEqual(expected.map(bits));
        // The check has teeth: with these magnitudes some element's bits depend on the order.
        if (s === 3 && n > 2) expect(naive.map(bits)).not.toEqual(expected.map(bits));
      }
    });
  }

  it("gives the same bits run to run", async () => {
    const runOnce = async () => {
      const ranks = await ring(3, { bucketBytes: 64 });
      const inputs = ranks.map((_, r) => [values(r, 333), values(r + 7, 90)]);
      await Promise.all(ranks.map((c, r) => c.allReduceSum(inputs[r] as Float32Array[])));
      await Promise.all(ranks.map((c) => c.close()));
      return inputs[1]?.map(bits);
    };
    expect(await runOnce()).toEqual(await runOnce());
  });

  it("handles many parts larger than a bucket, reduced in place", async () => {
    const ranks = await ring(2, { bucketBytes: 1024 });
    const inputs = ranks.map((_, r) => [values(r, 5000), values(r + 2, 300), values(r + 4, 2049)]);
    const expected = referenceSum(inputs, 256);
    await Promise.all(ranks.map((c, r) => c.allReduceSum(inputs[r] as Float32Array[])));
    expect(inputs[0]?.map(bits)).toEqual(expected.map(bits));
    expect(inputs[1]?.map(bits)).toEqual(expected.map(bits));
  });
});

describe("ring broadcast, all-gather, barrier", () => {
  it("broadcasts root's array to every rank, from any root, over several segments", async () => {
    const ranks = await ring(4, { bucketBytes: 40 });
    for (const root of [0, 2, 3]) {
      const arrays = ranks.map((_, r) => (r === root ? values(root, 57) : new Float32Array(57)));
      await Promise.all(ranks.map((c, r) => c.broadcast(arrays[r] as Float32Array, root)));
      for (const a of arrays) expect(bits(a)).toEqual(bits(values(root, 57)));
    }
  });

  it("gathers every rank's array by rank, lengths may differ", async () => {
    const ranks = await ring(3);
    const results = await Promise.all(ranks.map((c, r) => c.allGather(values(r, r * 3))));
    for (const gathered of results) expect(gathered.map(bits)).toEqual([0, 1, 2].map((r) => bits(values(r, r * 3))));
  });

  it("lets no rank leave a barrier before every rank entered it", async () => {
    const ranks = await ring(3);
    const left: number[] = [];
    const first = ranks.slice(0, 2).map((c, r) => c.barrier().then(() => left.push(r)));
    await new Promise((r) => setTimeout(r, 100));
    expect(left).toEqual([]);
    await Promise.all([...first, (ranks[2] as RingCollective).barrier().then(() => left.push(2))]);
    expect(left.sort()).toEqual([0, 1, 2]);
  });

  it("runs calls issued without awaiting one after another, in call order", async () => {
    const ranks = await ring(2);
    const a = ranks.map((_, r) => [values(r, 10)]);
    const b = ranks.map((r) => (r.rank === 0 ? values(9, 4) : new Float32Array(4)));
    await Promise.all(ranks.flatMap((c, r) => [c.allReduceSum(a[r] as Float32Array[]), c.broadcast(b[r] as Float32Array, 0), c.barrier()]));
    expect(bits(b[1] as Float32Array)).toEqual(bits(values(9, 4)));
    expect(bits(a[0]?.[0] as Float32Array)).toEqual(bits(a[1]?.[0] as Float32Array));
  });
});

describe("shutdown", () => {
  it("lets a rank close as soon as its last collective returns while the others still finish theirs", async () => {
    const ranks = await ring(4, { pieceBytes: 1024 });
    const inputs = ranks.map((_, r) => [values(r, 50_000)]);
    const done = ranks.map((c, r) => c.allReduceSum(inputs[r] as Float32Array[]).then(() => c.close()));
    await Promise.all(done);
    for (const parts of inputs) expect(parts.map(bits)).toEqual(inputs[0]?.map(bits));
  });
});

describe("peer loss", () => {
  const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"hung">((r) => setTimeout(() => r("hung"), ms))]);

  it("rejects every pending and later collective on every rank with PeerLostError when one rank's links drop", async () => {
    const ranks = await ring(4, { peerTimeoutMs: 60_000 });
    const pending = [0, 2, 3].map((r) => ranks[r]?.allReduceSum([values(r, 100_000)]).catch((e: unknown) => e));
    (ranks[1] as RingCollective).abort("simulated crash");
    // Far below the 60 s peer timeout: the failure travels round the ring as closed connections.
    const errors = await Promise.all(pending.map((p) => within(p as Promise<unknown>, 5000)));
    for (const e of errors) {
      expect(e).toBeInstanceOf(PeerLostError);
      expect((e as PeerLostError).exitCode).toBe(EXIT.retryable);
    }
    for (const r of [0, 2, 3]) await expect(ranks[r]?.barrier()).rejects.toBeInstanceOf(PeerLostError);
  });

  it("rejects with PeerLostError when a neighbour goes silent for the peer timeout", async () => {
    const ranks = await ring(3, { peerTimeoutMs: 300 });
    // Rank 2 never joins the all-reduce (a hung process): the others time out instead of waiting for ever.
    const errors = await Promise.all([0, 1].map((r) => within((ranks[r] as RingCollective).allReduceSum([values(r, 10)]).catch((e: unknown) => e), 10_000)));
    for (const e of errors) expect(e).toBeInstanceOf(PeerLostError);
    expect(errors.map((e) => (e as Error).message).join("\n")).toMatch(/no data for 300 ms/);
  });

  it("names the ranks that never showed up when the ring cannot form", async () => {
    const book = new MemoryAddressBook("job j attempt 0");
    const err = await connectCollective({ rank: 0, worldSize: 3, book, advertiseHost: "127.0.0.1", rendezvousTimeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RendezvousTimeoutError);
    expect((err as Error).message).toBe("rendezvous job j attempt 0 timed out after 200 ms: 1 of 3 ranks registered; missing ranks 1, 2");
  });
});
