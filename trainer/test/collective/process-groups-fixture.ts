// A whole gang's process groups on loopback, all ranks in this process, meeting through one in-memory book.
import { connectProcessGroups, type ProcessGroups } from "../../src/collective/process-groups.js";
import { MemoryAddressBook } from "../../src/collective/rendezvous.js";
import { RingCollective } from "../../src/collective/ring-collective.js";
import { TcpChannel } from "../../src/collective/channel.js";

export interface GangOptions {
  worldSize: number;
  tp: number;
  pp: number;
  peerTimeoutMs?: number;
}

export async function connectGang(o: GangOptions): Promise<ProcessGroups[]> {
  const book = new MemoryAddressBook(`gang-${o.worldSize}-${o.tp}-${o.pp}-${Math.random()}`);
  return Promise.all(
    Array.from({ length: o.worldSize }, (_, rank) =>
      connectProcessGroups({ rank, worldSize: o.worldSize, tensorParallel: o.tp, pipelineParallel: o.pp, book, advertiseHost: "127.0.0.1", rendezvousTimeoutMs: 5000, peerTimeoutMs: o.peerTimeoutMs ?? 5000 }),
    ),
  );
}

/** Drops every socket of the rank at once, as a crashed process would; it learns nothing itself. */
export function kill(pg: ProcessGroups): void {
  for (const c of [pg.world, pg.tensor, pg.data, pg.model, pg.embedding]) if (c instanceof RingCollective) c.abort("killed by the test");
  for (const ch of [pg.prev, pg.next]) if (ch instanceof TcpChannel) ch.abort("killed by the test");
}

/** Tears a gang down whatever state it is in. */
export async function closeGang(gang: readonly ProcessGroups[]): Promise<void> {
  for (const pg of gang) kill(pg);
  await Promise.all(gang.map((pg) => pg.close()));
}
