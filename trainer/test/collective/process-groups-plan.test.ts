// What each rank joins (pure), the address book's sub-group namespaces, and set-up refusals before any link is used.
import { describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { RendezvousConfigError } from "../../src/collective/errors.js";
import { planGroups } from "../../src/collective/group-plan.js";
import { connectProcessGroups } from "../../src/collective/process-groups.js";
import { MemoryAddressBook, RedisAddressBook, type AddressBook } from "../../src/collective/rendezvous.js";
import { LayoutError, parallelDegrees } from "../../src/parallel/layout.js";

describe("planGroups", () => {
  it("names each group by the coordinates its members share, with group-local ranks, in connection order", () => {
    // 16 ranks, tp 2, pp 4: rank 13 = (dp 0, tp 1, pp 3), the last stage.
    const p = planGroups(parallelDegrees(16, 2, 4), 13);
    expect(p.coords).toEqual({ dp: 0, tp: 1, pp: 3 });
    expect(p.rings).toEqual([
      { role: "tensor", name: "tp.0.3", members: [12, 13], localRank: 1 },
      { role: "data", name: "dp.1.3", members: [13, 15], localRank: 0 },
      { role: "model", name: "mp.0", members: [0, 1, 4, 5, 8, 9, 12, 13], localRank: 7 },
      { role: "embedding", name: "emb.0.1", members: [1, 13], localRank: 1 },
    ]);
    expect(p.prev).toEqual({ name: "pp.0.1.2-3", peer: 9, side: 1 });
    expect(p.next).toBeUndefined();
  });

  it("gives both ends of a pipeline link the same name and opposite sides", () => {
    const d = parallelDegrees(16, 2, 4);
    for (let r = 0; r < 16; r++) {
      const next = planGroups(d, r).next;
      if (next === undefined) continue;
      const back = planGroups(d, next.peer).prev;
      expect(back).toEqual({ name: next.name, peer: r, side: 1 });
      expect(next.side).toBe(0);
    }
  });

  it("has a middle stage join no embedding group, and a single stage no channels", () => {
    const mid = planGroups(parallelDegrees(16, 2, 4), 5);
    expect(mid.rings.map((g) => g.role)).toEqual(["tensor", "data", "model"]);
    expect([mid.prev?.peer, mid.next?.peer]).toEqual([1, 9]);
    const flat = planGroups(parallelDegrees(4, 1, 1), 2);
    expect(flat.rings.map((g) => [g.role, g.members.length])).toEqual([["tensor", 1], ["data", 4], ["model", 1]]);
    expect([flat.prev, flat.next]).toEqual([undefined, undefined]);
  });
});

describe("address book namespaces", () => {
  it("keeps a Redis sub-group in its own hash next to the job's, with the same TTL", async () => {
    const calls: string[] = [];
    const fake = {
      multi: () => {
        const tx = {
          hset: (key: string, field: string, value: string) => (calls.push(`hset ${key} ${field} ${value}`), tx),
          expire: (key: string, ttl: number) => (calls.push(`expire ${key} ${ttl}`), tx),
          exec: () => Promise.resolve([[null, 1], [null, 1]]),
        };
        return tx;
      },
      hgetall: (key: string) => Promise.resolve({ key }),
    } as unknown as Pick<Redis, "multi" | "hgetall">;
    const job = new RedisAddressBook(fake, "uid-1", 2, 600);
    const tp = job.sub("tp.0.1");
    expect(tp.key).toBe("gantry:trainer:{uid-1}:2:peers:tp.0.1");
    expect(tp.group).toBe("job uid-1 attempt 2 tp.0.1");
    expect(job.key).toBe("gantry:trainer:{uid-1}:2:peers");
    await tp.register(1, "10.0.0.5:4000");
    expect(calls).toEqual(["hset gantry:trainer:{uid-1}:2:peers:tp.0.1 1 10.0.0.5:4000", "expire gantry:trainer:{uid-1}:2:peers:tp.0.1 600"]);
    expect(await tp.entries()).toEqual({ key: "gantry:trainer:{uid-1}:2:peers:tp.0.1" });
  });

  it("gives every caller of a memory book's sub the same, separate book", async () => {
    const book = new MemoryAddressBook("job");
    await book.register(0, "127.0.0.1:1");
    await book.sub("dp.0.0").register(0, "127.0.0.1:2");
    expect(await book.entries()).toEqual({ "0": "127.0.0.1:1" });
    expect(await book.sub("dp.0.0").entries()).toEqual({ "0": "127.0.0.1:2" });
    expect(await book.sub("dp.1.0").entries()).toEqual({});
    expect(book.sub("dp.0.0").group).toBe("job dp.0.0");
  });

  it("refuses names that would break the key or the messages", () => {
    expect(() => new MemoryAddressBook().sub("tp 0")).toThrow(RendezvousConfigError);
    expect(() => new RedisAddressBook({} as Pick<Redis, "multi" | "hgetall">, "u", 0).sub("a:{b}")).toThrow(RendezvousConfigError);
  });
});

describe("connectProcessGroups set-up", () => {
  it("refuses a layout that does not divide the world before opening anything", async () => {
    const err = await connectProcessGroups({ rank: 0, worldSize: 8, tensorParallel: 3, pipelineParallel: 1, book: new MemoryAddressBook(), advertiseHost: "127.0.0.1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayoutError);
    expect((err as LayoutError).field).toBe("parallelism.tensorParallel");
  });

  it("refuses a book without sub() when a sub-group needs one, naming the group, on every rank", async () => {
    const inner = new MemoryAddressBook("plain");
    const plain: AddressBook = { group: inner.group, register: (r, a) => inner.register(r, a), entries: () => inner.entries() };
    const results = await Promise.all(
      [0, 1].map((rank) => connectProcessGroups({ rank, worldSize: 2, tensorParallel: 2, pipelineParallel: 1, book: plain, advertiseHost: "127.0.0.1", rendezvousTimeoutMs: 5000 }).catch((e: unknown) => e)),
    );
    for (const err of results) {
      expect(err).toBeInstanceOf(RendezvousConfigError);
      expect((err as Error).message).toContain("sub-group tp.0.0");
    }
  });
});
