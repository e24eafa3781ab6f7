// Builds the ring: listen, rendezvous, dial rank + 1, accept rank − 1, and check each connection's hello frame so a
// stray or stale connection (another job, an older attempt) is never mistaken for a neighbour.
import { createServer, connect, type Server, type Socket } from "node:net";
import { SoloCollective, type Collective } from "./collective.js";
import { PeerLostError } from "./errors.js";
import { FramedSocket } from "./framed-socket.js";
import type { PeerAddress } from "./rendezvous-plan.js";
import { nextRank, prevRank } from "./ring-schedule.js";
import { rendezvous, type AddressBook } from "./rendezvous.js";
import { RingCollective } from "./ring-collective.js";

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

const HELLO_TAG = 0xffffffff;

interface Hello {
  group: string;
  rank: number;
  worldSize: number;
}

/** Connects this rank to the ring and returns its collectives (SoloCollective for a world of one). */
export async function connectCollective(options: ConnectOptions): Promise<Collective> {
  const { rank, worldSize, book } = options;
  if (worldSize === 1 && rank === 0) return new SoloCollective();
  const setupMs = options.rendezvousTimeoutMs ?? 300_000;
  const peerTimeoutMs = options.peerTimeoutMs ?? 120_000;
  const deadline = Date.now() + setupMs;
  const server = createServer({ noDelay: true });
  const inbound = acceptFrom(server, { group: book.group, rank: prevRank(rank, worldSize), worldSize }, rank, peerTimeoutMs, deadline);
  // Awaited below; until then a deadline rejection must not count as unhandled.
  inbound.promise.catch(() => {});
  try {
    const port = await listen(server, options.port ?? 0, options.listenHost ?? options.advertiseHost);
    const peers = await rendezvous({ book, rank, worldSize, address: { host: options.advertiseHost, port }, timeoutMs: setupMs });
    const next = nextRank(rank, worldSize);
    const outbound = await dial(peers[next] as PeerAddress, rank, next, peerTimeoutMs, deadline);
    await outbound.send(HELLO_TAG, new TextEncoder().encode(JSON.stringify({ group: book.group, rank, worldSize } satisfies Hello)));
    const prev = await inbound.promise;
    const closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()));
    const ring = { ...(options.bucketBytes === undefined ? {} : { bucketBytes: options.bucketBytes }), ...(options.pieceBytes === undefined ? {} : { pieceBytes: options.pieceBytes }) };
    return new RingCollective(rank, worldSize, { next: outbound, prev }, { ...ring, onClose: closeServer });
  } catch (err) {
    inbound.cancel();
    server.close();
    throw err;
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : port);
    });
  });
}

/** Dials `peer`, retrying refused connections until the deadline (its listener may still be starting). */
async function dial(address: PeerAddress, rank: number, peer: number, timeoutMs: number, deadline: number): Promise<FramedSocket> {
  let delay = 20;
  for (;;) {
    try {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: address.host, port: address.port, noDelay: true });
        s.once("connect", () => {
          s.off("error", reject);
          resolve(s);
        });
        s.once("error", reject);
      });
      return new FramedSocket(socket, rank, peer, timeoutMs);
    } catch (err) {
      if (Date.now() + delay >= deadline) throw new PeerLostError(rank, peer, `cannot connect to ${address.host}:${address.port}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  }
}

/** Waits for the connection whose hello names `expected`; others are dropped. */
function acceptFrom(server: Server, expected: Hello, rank: number, timeoutMs: number, deadline: number): { promise: Promise<FramedSocket>; cancel: () => void } {
  let cancel = () => {};
  const promise = new Promise<FramedSocket>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.off("connection", onConnection);
      reject(new PeerLostError(rank, expected.rank, `rank ${expected.rank} did not connect before the set-up deadline`));
    }, Math.max(1, deadline - Date.now()));
    cancel = () => {
      clearTimeout(timer);
      server.off("connection", onConnection);
    };
    const onConnection = (socket: Socket) => {
      const link = new FramedSocket(socket, rank, undefined, timeoutMs);
      link.recv().then(
        (frame) => {
          const hello = parseHello(frame.tag, frame.body);
          if (hello === undefined || hello.group !== expected.group || hello.rank !== expected.rank || hello.worldSize !== expected.worldSize) {
            socket.destroy();
            return;
          }
          link.peer = hello.rank;
          cancel();
          resolve(link);
        },
        () => socket.destroy(),
      );
    };
    server.on("connection", onConnection);
  });
  return { promise, cancel: () => cancel() };
}

function parseHello(tag: number, body: Uint8Array): Hello | undefined {
  if (tag !== HELLO_TAG) return undefined;
  try {
    const v = JSON.parse(new TextDecoder().decode(body)) as Partial<Hello>;
    return typeof v.group === "string" && typeof v.rank === "number" && typeof v.worldSize === "number" ? { group: v.group, rank: v.rank, worldSize: v.worldSize } : undefined;
  } catch {
    return undefined;
  }
}
