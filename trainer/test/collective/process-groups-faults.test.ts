// A dead rank fails every other rank's pending call on any group, including ranks blocked on a group or channel the
// dead rank is not in (they learn through the rank they wait on, which drops all its links once one is lost).
// Links time out only after 30 s here, far beyond the 5 s the test waits: a rejection can only come from the
// failure travelling, never from a silence timer.
import { afterEach, describe, expect, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { SoloCollective } from "../../src/collective/collective.js";
import { PeerLostError } from "../../src/collective/errors.js";
import type { ProcessGroups } from "../../src/collective/process-groups.js";
import { closeGang, connectGang, kill } from "./process-groups-fixture.js";

const open: ProcessGroups[][] = [];
afterEach(async () => {
  for (const gang of open.splice(0)) await closeGang(gang);
});

type Pending = "tensor" | "data" | "model" | "embedding" | "world" | "prev" | "next";

/** Starts one call that cannot finish without every member of its group or the peer. */
function block(pg: ProcessGroups, on: Pending): Promise<unknown> {
  if (on === "prev" || on === "next") {
    const ch = pg[on];
    if (ch === undefined) throw new Error(`rank ${pg.rank} has no ${on} channel`);
    return ch.recv(0);
  }
  const c = pg[on];
  if (c === undefined) throw new Error(`rank ${pg.rank} has no ${on} group`);
  return c.allReduceSum([new Float32Array(10)]);
}

const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then(() => "resolved" as const, (err: unknown) => err), new Promise<"hung">((r) => setTimeout(() => r("hung"), ms).unref())]);

describe.each([
  {
    // 0 = (dp 0, tp 0, pp 0). Direct: 1 (its TP partner), 2 (its DP partner), 4 (its next stage).
    // Indirect: 3 waits on TP with 2; 5 on DP with 7; 7 on the embedding pair with 3; 6 on the channel from 2.
    shape: { tp: 2, pp: 2 },
    dead: 0,
    pending: { 1: "tensor", 2: "data", 3: "tensor", 4: "prev", 5: "data", 6: "prev", 7: "embedding" } as Record<number, Pending>,
  },
  {
    // tp 1: rank r = (dp r % 2, pp r / 2); 2 is a middle stage of pipeline [0, 2, 4, 6].
    // Direct: 0 (gradient from 2), 4 (activation from 2), 3 (DP partner). Indirect: 6 via 4; 1 and 5 via 3; 7 via 1's pair.
    shape: { tp: 1, pp: 4 },
    dead: 2,
    pending: { 0: "next", 1: "next", 3: "data", 4: "prev", 5: "prev", 6: "prev", 7: "embedding" } as Record<number, Pending>,
  },
  {
    // dp 4: 5 = (dp 2, tp 1). Direct: 4 (TP partner). Indirect: the rest wait on their TP partner or DP ring.
    shape: { tp: 2, pp: 1 },
    dead: 5,
    pending: { 0: "data", 1: "model", 2: "tensor", 3: "data", 4: "tensor", 6: "tensor", 7: "data" } as Record<number, Pending>,
  },
])("world 8, tp $shape.tp, pp $shape.pp, rank $dead dies", ({ shape, dead, pending }) => {
  it("rejects every other rank's pending call, on any group, with one PeerLostError per rank that later calls repeat", async () => {
    const gang = await connectGang({ worldSize: 8, ...shape, peerTimeoutMs: 30_000 });
    open.push(gang);
    const alive = gang.filter((pg) => pg.rank !== dead);
    const calls = alive.map((pg) => within(block(pg, pending[pg.rank] as Pending), 5000));
    // Let every call reach its wait (the ones on a whole group would otherwise see the death first anyway).
    await new Promise((r) => setTimeout(r, 50));
    kill(gang[dead] as ProcessGroups);
    const outcomes = await Promise.all(calls);
    for (const [i, pg] of alive.entries()) {
      const err = outcomes[i];
      expect(err, `rank ${pg.rank} on ${pending[pg.rank]}`).toBeInstanceOf(PeerLostError);
      expect((err as PeerLostError).exitCode).toBe(EXIT.retryable);
      expect((err as PeerLostError).reason).not.toMatch(/no data for/);
      // Every other group and channel of the rank now fails with the same error, without waiting; a solo group
      // involves nobody and still succeeds.
      const groups = [pg.world, pg.tensor, pg.data, pg.model, pg.embedding].filter((c) => c !== undefined);
      for (const c of groups) expect(await within(c.barrier(), 1000)).toBe(c instanceof SoloCollective ? "resolved" : err);
      if (pg.prev !== undefined) expect(await within(pg.prev.recv(1), 1000)).toBe(err);
      if (pg.next !== undefined) expect(await within(pg.next.send(new Float32Array(1), 1), 1000)).toBe(err);
    }
  });
});
