// A point-to-point link between two ranks (pipeline neighbours): one duplex TCP connection carrying tagged Float32Array
// frames in send order. The receiver names the tag it expects, so ranks out of step (a different micro-batch, a
// gradient where an activation was due) fail loudly instead of mixing data.
import { createServer } from "node:net";
import { CollectiveMismatchError, PeerLostError } from "./errors.js";
import type { FramedSocket } from "./framed-socket.js";
import type { PeerAddress } from "./rendezvous-plan.js";
import { rendezvous, type AddressBook } from "./rendezvous.js";
import { HELLO_TAG, acceptFrom, dial, listen, sendHello } from "./tcp-links.js";

export interface Channel {
  /** The global rank at the other end. */
  readonly peer: number;
  /** Writes one frame; resolves once the socket has taken it (`data` must not change until then). */
  send(data: Float32Array, tag: number): Promise<void>;
  /** The next frame, which must carry `tag`; calls are served in call order. */
  recv(tag: number): Promise<Float32Array>;
  /** Bytes this rank has written on the connection (frame headers included; the dialling side's hello too). */
  readonly bytesSent: number;
  close(): Promise<void>;
}

/** The largest tag a caller may use; the top value is the connection's hello. */
export const MAX_CHANNEL_TAG = HELLO_TAG - 1;

export class TcpChannel implements Channel {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    /** This rank (global), for messages. */
    readonly rank: number,
    readonly peer: number,
    private readonly link: FramedSocket,
    private readonly onClose: () => Promise<void> = () => Promise.resolve(),
  ) {}

  get bytesSent(): number {
    return this.link.socket.bytesWritten;
  }

  send(data: Float32Array, tag: number): Promise<void> {
    const bad = this.checkTag(tag);
    if (bad !== undefined) return Promise.reject(bad);
    return this.link.send(tag, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  recv(tag: number): Promise<Float32Array> {
    const bad = this.checkTag(tag);
    if (bad !== undefined) return Promise.reject(bad);
    // FramedSocket serves one receive at a time; queued calls take the frames in call order.
    const result = this.chain.then(async () => {
      const frame = await this.link.recv();
      if (frame.tag !== tag || frame.body.length % 4 !== 0) {
        const err = new CollectiveMismatchError(
          this.rank,
          frame.tag !== tag ? `expected a frame tagged ${tag} from rank ${this.peer}, it sent tag ${frame.tag}` : `tag ${tag}: rank ${this.peer} sent ${frame.body.length} bytes, not whole floats`,
        );
        // The peer must not wait on a rank that gave up: dropping the link tells it at once.
        this.link.fail(err);
        throw err;
      }
      // Frame bodies start at offset 0 of their own buffer (FrameDecoder), so no copy is needed.
      return new Float32Array(frame.body.buffer, frame.body.byteOffset, frame.body.byteLength / 4);
    });
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Fails the channel with `err` (another link of this rank was lost): pending and later calls reject with it. */
  fail(err: Error): void {
    this.link.fail(err);
  }

  /** Drops the connection as a crashed process would. */
  abort(reason = "aborted by this rank"): void {
    this.fail(new PeerLostError(this.rank, this.peer, reason));
  }

  /** Registers `listener` for the loss of the connection (not for this side's close or fail). */
  onLost(listener: (err: Error) => void): void {
    this.link.onLost(listener);
  }

  async close(): Promise<void> {
    await this.chain;
    await this.link.close();
    await this.onClose();
  }

  private checkTag(tag: number): RangeError | undefined {
    return Number.isInteger(tag) && tag >= 0 && tag <= MAX_CHANNEL_TAG ? undefined : new RangeError(`channel tag ${tag} is not an integer in [0, ${MAX_CHANNEL_TAG}]`);
  }
}

export interface ChannelOptions {
  /** This rank's global rank and the peer's, for messages and the Channel's `peer`. */
  rank: number;
  peer: number;
  /** 0 listens and accepts, 1 dials; the two ends must pick different sides. */
  side: 0 | 1;
  /** A namespace of the address book for this pair alone. */
  book: AddressBook;
  advertiseHost: string;
  listenHost?: string;
  /** Rendezvous and connection must finish within this (default 300 s). */
  rendezvousTimeoutMs?: number;
  /** A link with no progress for this long while a call waits on it is a lost peer (default 120 s). */
  peerTimeoutMs?: number;
}

/** Meets the peer through `book` (both register; side 1 dials side 0) and returns the channel. */
export async function connectChannel(options: ChannelOptions): Promise<TcpChannel> {
  const { rank, peer, side, book } = options;
  const setupMs = options.rendezvousTimeoutMs ?? 300_000;
  const peerTimeoutMs = options.peerTimeoutMs ?? 120_000;
  const deadline = Date.now() + setupMs;
  const server = createServer({ noDelay: true });
  const names = (local: number) => (local === side ? rank : peer);
  const inbound = side === 0 ? acceptFrom(server, { group: book.group, rank: 1, worldSize: 2 }, rank, peerTimeoutMs, deadline, names) : undefined;
  inbound?.promise.catch(() => {});
  const closeServer = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  try {
    // Side 1 listens only so that the rendezvous has an address for it to publish; nobody dials it.
    const port = await listen(server, 0, options.listenHost ?? options.advertiseHost);
    const peers = await rendezvous({ book, rank: side, worldSize: 2, address: { host: options.advertiseHost, port }, timeoutMs: setupMs });
    if (inbound !== undefined) return new TcpChannel(rank, peer, await inbound.promise, closeServer);
    await closeServer();
    const link = await dial(peers[0] as PeerAddress, rank, peer, peerTimeoutMs, deadline);
    await sendHello(link, { group: book.group, rank: 1, worldSize: 2 });
    return new TcpChannel(rank, peer, link);
  } catch (err) {
    inbound?.cancel();
    server.close();
    throw err;
  }
}
