// Process groups on real TCP: every group of every rank of a world of 8 reduces over exactly its layout members, in
// its layout order; pipeline channels carry tagged frames in order both ways; a tag out of step fails loudly.
import { afterEach, describe, expect, it } from "vitest";
import { CollectiveMismatchError, PeerLostError } from "../../src/collective/errors.js";
import { SoloCollective, type Collective } from "../../src/collective/collective.js";
import type { ProcessGroups } from "../../src/collective/process-groups.js";
import { dataGroup, embeddingGroup, modelGroup, parallelDegrees, pipelineGroup, tensorGroup, type ParallelDegrees } from "../../src/parallel/layout.js";
import { closeGang, connectGang } from "./process-groups-fixture.js";

const open: ProcessGroups[][] = [];
afterEach(async () => {
  for (const gang of open.splice(0)) await closeGang(gang);
});
async function gang(worldSize: number, tp: number, pp: number): Promise<ProcessGroups[]> {
  const g = await connectGang({ worldSize, tp, pp });
  open.push(g);
  return g;
}

type Role = "world" | "tensor" | "data" | "model" | "embedding";
const members: Record<Role, (d: ParallelDegrees, r: number) => number[] | undefined> = {
  world: (d) => Array.from({ length: d.dp * d.tp * d.pp }, (_, r) => r),
  tensor: tensorGroup,
  data: dataGroup,
  model: modelGroup,
  embedding: embeddingGroup,
};
const roles = Object.keys(members) as Role[];

describe.each([
  { tp: 2, pp: 2 },
  { tp: 2, pp: 1 },
  { tp: 1, pp: 4 },
])("world 8, tp $tp, pp $pp", ({ tp, pp }) => {
  it("reduces and gathers each group over exactly its members, in layout order, with group-local ranks", async () => {
    const d = parallelDegrees(8, tp, pp);
    const g = await gang(8, tp, pp);
    // Every group of every rank at once: the rings are independent connections.
    const results = await Promise.all(
      g.flatMap((pg) =>
        roles.map(async (role) => {
          const c: Collective | undefined = pg[role];
          const expected = members[role](d, pg.rank);
          if (c === undefined) return { role, rank: pg.rank, expected, got: undefined };
          const x = [Float32Array.of(pg.rank + 1)];
          await c.allReduceSum(x);
          const gathered = await c.allGather(Float32Array.of(pg.rank));
          return { role, rank: pg.rank, expected, got: { sum: x[0]?.[0], order: gathered.map((a) => a[0]), rank: c.rank, size: c.worldSize, solo: c instanceof SoloCollective } };
        }),
      ),
    );
    for (const { role, rank, expected, got } of results) {
      if (expected === undefined) {
        expect(got, `${role} of rank ${rank}`).toBeUndefined();
        continue;
      }
      expect(got, `${role} of rank ${rank}`).toEqual({
        sum: expected.reduce((s, r) => s + r + 1, 0),
        order: expected,
        rank: expected.indexOf(rank),
        size: expected.length,
        solo: expected.length === 1,
      });
    }
    for (const pg of g) {
      expect(pg.degrees).toEqual(d);
      expect(pg.tensor.rank).toBe(pg.coords.tp);
      expect(pg.data.rank).toBe(pg.coords.dp);
      expect(pg.bytesSent()).toBeGreaterThan(0);
    }
  });

  it("carries frames to the next stage and back on one connection, in send order", async () => {
    const d = parallelDegrees(8, tp, pp);
    const g = await gang(8, tp, pp);
    const frames = 3;
    const got = await Promise.all(
      g.map(async (pg) => {
        const pipe = pipelineGroup(d, pg.rank);
        expect(pg.prev?.peer).toBe(pipe[pg.coords.pp - 1]);
        expect(pg.next?.peer).toBe(pipe[pg.coords.pp + 1]);
        // Forward: activations of micro-batch i, tag i; backward: gradients, tag 100 + i. Sends are not awaited
        // one by one, so order rests on the connection alone.
        const sends: Promise<void>[] = [];
        for (let i = 0; i < frames; i++) sends.push(pg.next?.send(Float32Array.of(pg.rank, i, 1), i) ?? Promise.resolve());
        for (let i = 0; i < frames; i++) sends.push(pg.prev?.send(Float32Array.of(pg.rank, i, -1, 7), 100 + i) ?? Promise.resolve());
        const fromPrev = pg.prev === undefined ? [] : await Promise.all(Array.from({ length: frames }, (_, i) => pg.prev?.recv(i)));
        const fromNext = pg.next === undefined ? [] : await Promise.all(Array.from({ length: frames }, (_, i) => pg.next?.recv(100 + i)));
        await Promise.all(sends);
        return { fromPrev: fromPrev.map((a) => Array.from(a ?? [])), fromNext: fromNext.map((a) => Array.from(a ?? [])) };
      }),
    );
    for (const pg of g) {
      const pipe = pipelineGroup(d, pg.rank);
      const prev = pipe[pg.coords.pp - 1];
      const next = pipe[pg.coords.pp + 1];
      expect(got[pg.rank]?.fromPrev).toEqual(prev === undefined ? [] : [0, 1, 2].map((i) => [prev, i, 1]));
      expect(got[pg.rank]?.fromNext).toEqual(next === undefined ? [] : [0, 1, 2].map((i) => [next, i, -1, 7]));
      expect(pg.prev === undefined).toBe(pg.coords.pp === 0);
      expect(pg.next === undefined).toBe(pg.coords.pp === pp - 1);
    }
  });
});

describe("tp = pp = 1", () => {
  it("gives data the world's rank order and bits, with tensor and model solo and no pipeline", async () => {
    const g = await gang(4, 1, 1);
    // Magnitudes far apart, so a different summation order would change the bits.
    const input = (r: number) => Float32Array.from({ length: 37 }, (_, i) => (((r * 31 + i * 17) % 13) - 6) * 10 ** ((r + i) % 7 - 3));
    const viaWorld = g.map((pg) => input(pg.rank));
    const viaData = g.map((pg) => input(pg.rank));
    await Promise.all(g.map((pg) => pg.world.allReduceSum([viaWorld[pg.rank] as Float32Array])));
    await Promise.all(g.map((pg) => pg.data.allReduceSum([viaData[pg.rank] as Float32Array])));
    const bits = (a: Float32Array | undefined) => Array.from(new Uint32Array((a as Float32Array).buffer));
    for (const pg of g) {
      expect(bits(viaData[pg.rank])).toEqual(bits(viaWorld[pg.rank]));
      expect(pg.data.rank).toBe(pg.world.rank);
      expect(pg.tensor).toBeInstanceOf(SoloCollective);
      expect(pg.model).toBeInstanceOf(SoloCollective);
      expect([pg.embedding, pg.prev, pg.next]).toEqual([undefined, undefined, undefined]);
    }
    // The data ring shards like the world ring (ZeRO over DP).
    const owned = [[0, 9], [9, 18], [18, 27], [27, 37]] as const;
    const shards = g.map((pg) => input(pg.rank + 5));
    await Promise.all(g.map((pg) => pg.data.reduceScatterSum(shards[pg.rank] as Float32Array, owned)));
    for (const pg of g) {
      const [start, end] = owned[pg.rank] as readonly [number, number];
      // Owner r's range is summed in rank order r+1, r+2, …, r (collective.ts), in float32.
      const expected: number[] = [];
      for (let i = start; i < end; i++) {
        let acc = 0;
        for (let k = 1; k <= 4; k++) acc = Math.fround(acc + (input(((pg.rank + k) % 4) + 5)[i] as number));
        expected.push(acc);
      }
      expect(Array.from((shards[pg.rank] as Float32Array).subarray(start, end))).toEqual(expected);
    }
  });

  it("is a world of one with every group solo", async () => {
    const [pg] = await gang(1, 1, 1);
    expect(pg?.world).toBeInstanceOf(SoloCollective);
    expect(pg?.data).toBeInstanceOf(SoloCollective);
    expect(pg?.bytesSent()).toBe(0);
  });
});

describe("channel tags", () => {
  it("rejects a frame with another tag than expected, naming both, and drops the link so the sender learns", async () => {
    const [first, second] = await gang(2, 1, 2);
    if (first?.next === undefined || second?.prev === undefined) throw new Error("no channel");
    await first.next.send(Float32Array.of(1, 2), 5);
    const err = await second.prev.recv(6).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CollectiveMismatchError);
    expect((err as Error).message).toContain("expected a frame tagged 6 from rank 0, it sent tag 5");
    await expect(first.next.recv(0)).rejects.toBeInstanceOf(PeerLostError);
  });

  it("refuses tags outside [0, 2^32 − 2]", async () => {
    const [first] = await gang(2, 1, 2);
    await expect(first?.next?.send(new Float32Array(1), -1)).rejects.toBeInstanceOf(RangeError);
    await expect(first?.next?.recv(0xffffffff)).rejects.toBeInstanceOf(RangeError);
  });
});
