// Builds the ring: listen, rendezvous, dial rank + 1, accept rank − 1, and check each connection's hello frame so a
// stray or stale connection (another job, an older attempt) is never mistaken for a neighbour.
import { createServer } from "node:net";
import { SoloCollective, type Collective } from "./collective.js";
import type { PeerAddress } from "./rendezvous-plan.js";
import { nextRank, prevRank } from "./ring-schedule.js";
import { rendezvous, type AddressBook } from "./rendezvous.js";
import { RingCollective, type RingLinks } from "./ring-collective.js";
import { acceptFrom, dial, listen, localNames, sendHello, type RankNames } from "./tcp-links.js";

export interface ConnectOptions {
  rank: number;
  worldSize: number;
  book: AddressBook;
  /** The host other ranks dial: POD_IP in a pod (see advertiseHost), 127.0.0.1 locally. */
  advertiseHost: string;
  /** The interface to listen on (default: advertiseHost). */
  listenHost?: string;
  /** The port to listen on (default 0: any free port, which the rendezvous publishes). */
  port?: number;
  /** Rendezvous and ring set-up must finish within this (default 300 s). */
  rendezvousTimeoutMs?: number;
  /** A link with no progress for this long while a collective waits on it is a lost peer (default 120 s). */
  peerTimeoutMs?: number;
  /** All-reduce bucket size (default 16 MiB). */
  bucketBytes?: number;
  /** Frame size within a chunk (default 1 MiB). */
  pieceBytes?: number;
}

/** Connects this rank to the ring and returns its collectives (SoloCollective for a world of one). */
export async function connectCollective(options: ConnectOptions): Promise<Collective> {
  if (options.worldSize === 1 && options.rank === 0) return new SoloCollective();
  return (await connectRing(options)).collective;
}

/**
 * The ring of at least two ranks, with its links, so process groups can fail every group of a rank together when
 * one link is lost. `names` maps the ring's ranks to the ranks its errors name (process groups: global ranks).
 */
export async function connectRing(options: ConnectOptions, names: RankNames = localNames): Promise<{ collective: RingCollective; links: RingLinks }> {
  const { rank, worldSize, book } = options;
  const setupMs = options.rendezvousTimeoutMs ?? 300_000;
  const peerTimeoutMs = options.peerTimeoutMs ?? 120_000;
  const deadline = Date.now() + setupMs;
  const server = createServer({ noDelay: true });
  const inbound = acceptFrom(server, { group: book.group, rank: prevRank(rank, worldSize), worldSize }, names(rank), peerTimeoutMs, deadline, names);
  // Awaited below; until then a deadline rejection must not count as unhandled.
  inbound.promise.catch(() => {});
  try {
    const port = await listen(server, options.port ?? 0, options.listenHost ?? options.advertiseHost);
    const peers = await rendezvous({ book, rank, worldSize, address: { host: options.advertiseHost, port }, timeoutMs: setupMs });
    const next = nextRank(rank, worldSize);
    const outbound = await dial(peers[next] as PeerAddress, names(rank), names(next), peerTimeoutMs, deadline);
    await sendHello(outbound, { group: book.group, rank, worldSize });
    const prev = await inbound.promise;
    const closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()));
    const ring = { ...(options.bucketBytes === undefined ? {} : { bucketBytes: options.bucketBytes }), ...(options.pieceBytes === undefined ? {} : { pieceBytes: options.pieceBytes }) };
    const links = { next: outbound, prev };
    return { collective: new RingCollective(rank, worldSize, links, { ...ring, onClose: closeServer }), links };
  } catch (err) {
    inbound.cancel();
    server.close();
    throw err;
  }
}
