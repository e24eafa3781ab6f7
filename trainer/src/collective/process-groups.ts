// One rank's process groups for 3D parallelism: the world ring plus a ring per sub-group (tensor, data, model,
// embedding) and a channel to each pipeline neighbour, each met through its own namespace of the address book.
// The groups fail together: once any link of this rank is lost, every group and channel of the rank rejects with that
// same PeerLostError, so a rank blocked on another group than the dead peer's learns at once, drops its own links,
// and the failure travels on to the ranks waiting on it.
import { SoloCollective, type Collective, type ShardCollective } from "./collective.js";
import { connectChannel, type Channel, type TcpChannel } from "./channel.js";
import { connectRing, type ConnectOptions } from "./connect-ring.js";
import { RendezvousConfigError } from "./errors.js";
import { planGroups, type ChannelPlan, type RingPlan, type RingRole } from "./group-plan.js";
import type { AddressBook } from "./rendezvous.js";
import type { RingCollective } from "./ring-collective.js";
import { parallelDegrees, type ParallelDegrees, type RankCoords } from "../parallel/layout.js";

export interface ProcessGroups {
  readonly degrees: ParallelDegrees;
  readonly coords: RankCoords;
  readonly rank: number;
  /** All ranks (the job's ring, global ranks): barriers, stop votes. */
  readonly world: Collective;
  /** The TP group, group-local rank = coords.tp; SoloCollective when tp = 1. */
  readonly tensor: Collective;
  /** The DP group, group-local rank = coords.dp; SoloCollective when dp = 1. */
  readonly data: ShardCollective;
  /** The tp·pp ranks of this rank's replica, group-local rank = index in modelGroup; SoloCollective when tp·pp = 1. */
  readonly model: Collective;
  /** The first and last stage of this rank's pipeline (local ranks 0 and 1), when pp > 1 and this rank is one of them. */
  readonly embedding?: Collective;
  /** To stage pp + 1 (same dp, tp); undefined on the last stage. */
  readonly next?: Channel;
  /** To stage pp − 1; undefined on the first stage. */
  readonly prev?: Channel;
  /** Bytes this rank has written on all its links (frame headers and hellos included). */
  bytesSent(): number;
  close(): Promise<void>;
}

export type ProcessGroupOptions = ConnectOptions & { tensorParallel: number; pipelineParallel: number };

/** A ring or channel of this rank: what failing together needs of it. */
interface Part {
  fail(err: Error): void;
  close(): Promise<void>;
  readonly bytesSent: number;
}

/** Fails every part of the rank with the first lost link's error. */
class FailTogether {
  private readonly parts: Part[] = [];
  failure: Error | undefined;

  add<P extends Part>(part: P, onLost: (listener: (err: Error) => void) => void): P {
    this.parts.push(part);
    if (this.failure !== undefined) part.fail(this.failure);
    onLost((err) => this.failAll(err));
    return part;
  }

  failAll(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    for (const p of this.parts) p.fail(err);
  }

  get all(): readonly Part[] {
    return this.parts;
  }
}

/**
 * Connects every group of this rank, in the same order on every rank: the world ring (on `port`, the un-suffixed
 * book, so a job with tp = pp = 1 meets exactly as with connectCollective), then the sub-group rings, then the
 * channel to the previous stage and the one to the next. Groups of one rank are SoloCollectives with no connection.
 */
export async function connectProcessGroups(options: ProcessGroupOptions): Promise<ProcessGroups> {
  const degrees = parallelDegrees(options.worldSize, options.tensorParallel, options.pipelineParallel);
  const plan = planGroups(degrees, options.rank);
  const together = new FailTogether();
  try {
    const world = options.worldSize === 1 ? new SoloCollective() : await ring(together, options, (r) => r);
    const rings: Partial<Record<RingRole, Collective>> = {};
    for (const p of plan.rings) rings[p.role] = p.members.length === 1 ? new SoloCollective() : await ring(together, subRingOptions(options, p), (r) => p.members[r] as number);
    const prev = plan.prev === undefined ? undefined : await channel(options, together, plan.prev);
    const next = plan.next === undefined ? undefined : await channel(options, together, plan.next);
    if (together.failure !== undefined) throw together.failure;
    return {
      degrees,
      coords: plan.coords,
      rank: options.rank,
      world,
      tensor: rings.tensor as Collective,
      data: rings.data as ShardCollective,
      model: rings.model as Collective,
      ...(rings.embedding === undefined ? {} : { embedding: rings.embedding }),
      ...(prev === undefined ? {} : { prev }),
      ...(next === undefined ? {} : { next }),
      bytesSent: () => together.all.reduce((n, p) => n + p.bytesSent, 0),
      close: async () => {
        await Promise.all(together.all.map((p) => p.close()));
      },
    };
  } catch (err) {
    // Drop whatever was connected, as a crash would: the peers fail at once instead of at their set-up deadline.
    together.failAll(err instanceof Error ? err : new Error(String(err)));
    await Promise.all(together.all.map((p) => p.close()));
    throw err;
  }
}

async function ring(together: FailTogether, options: ConnectOptions, names: (local: number) => number): Promise<RingCollective> {
  const { collective, links } = await connectRing(options, names);
  return together.add(collective, (listener) => {
    links.next.onLost(listener);
    links.prev.onLost(listener);
  });
}

function subRingOptions(base: ProcessGroupOptions, p: RingPlan): ConnectOptions {
  return { ...setupOptions(base), rank: p.localRank, worldSize: p.members.length, book: subBook(base.book, p.name) };
}

async function channel(base: ProcessGroupOptions, together: FailTogether, p: ChannelPlan): Promise<TcpChannel> {
  const c = await connectChannel({ ...setupOptions(base), rank: base.rank, peer: p.peer, side: p.side, book: subBook(base.book, p.name) });
  return together.add(c, (listener) => c.onLost(listener));
}

/** What a sub-group shares with the world ring: everything but the rank, size, book and port (sub-groups use any free port). */
function setupOptions(o: ProcessGroupOptions): Omit<ConnectOptions, "rank" | "worldSize" | "book"> {
  return {
    advertiseHost: o.advertiseHost,
    ...(o.listenHost === undefined ? {} : { listenHost: o.listenHost }),
    ...(o.rendezvousTimeoutMs === undefined ? {} : { rendezvousTimeoutMs: o.rendezvousTimeoutMs }),
    ...(o.peerTimeoutMs === undefined ? {} : { peerTimeoutMs: o.peerTimeoutMs }),
    ...(o.bucketBytes === undefined ? {} : { bucketBytes: o.bucketBytes }),
    ...(o.pieceBytes === undefined ? {} : { pieceBytes: o.pieceBytes }),
  };
}

function subBook(book: AddressBook, name: string): AddressBook {
  if (book.sub === undefined) throw new RendezvousConfigError(book.group, `the address book cannot make the namespace of sub-group ${name}: it has no sub()`);
  return book.sub(name);
}
