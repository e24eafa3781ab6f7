// The TCP steps every link set-up shares: listen, dial with retries, and accept only the connection whose hello frame
// names the expected group, rank and size, so a stray or stale connection (another job, an older attempt, another
// group of this job) is never mistaken for a neighbour.
import { connect, type Server, type Socket } from "node:net";
import { PeerLostError } from "./errors.js";
import { FramedSocket } from "./framed-socket.js";
import type { PeerAddress } from "./rendezvous-plan.js";

export const HELLO_TAG = 0xffffffff;

export interface Hello {
  group: string;
  rank: number;
  worldSize: number;
}

/** How a link names the ranks at its ends in errors: group-local ranks by default, global ranks for sub-groups. */
export type RankNames = (localRank: number) => number;
export const localNames: RankNames = (r) => r;

export function listen(server: Server, port: number, host: string): Promise<number> {
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
export async function dial(address: PeerAddress, rank: number, peer: number, timeoutMs: number, deadline: number): Promise<FramedSocket> {
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

export function sendHello(link: FramedSocket, hello: Hello): Promise<void> {
  return link.send(HELLO_TAG, new TextEncoder().encode(JSON.stringify(hello)));
}

/**
 * Waits for the connection whose hello names `expected`; others are dropped. `rank` names this end in errors, and
 * `names` turns the hello's (group-local) rank into the name the link reports for its peer.
 */
export function acceptFrom(
  server: Server,
  expected: Hello,
  rank: number,
  timeoutMs: number,
  deadline: number,
  names: RankNames = localNames,
): { promise: Promise<FramedSocket>; cancel: () => void } {
  let cancel = () => {};
  const promise = new Promise<FramedSocket>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.off("connection", onConnection);
      reject(new PeerLostError(rank, names(expected.rank), `rank ${names(expected.rank)} did not connect before the set-up deadline`));
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
          link.peer = names(hello.rank);
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
