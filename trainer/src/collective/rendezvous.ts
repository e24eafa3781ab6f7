// Rendezvous: every rank registers where it listens and waits until the whole world has. The address book is Redis in
// a cluster (no DNS needed: pods register POD_IP) and an in-memory map in tests.
import type { Redis } from "ioredis";
import { RendezvousConfigError, RendezvousTimeoutError } from "./errors.js";
import { checkRank, collectPeers, formatAddress, peersKey, type PeerAddress } from "./rendezvous-plan.js";

/** Where ranks publish their addresses. */
export interface AddressBook {
  /** Names the group in messages (job and attempt). */
  readonly group: string;
  register(rank: number, address: string): Promise<void>;
  /** Every entry so far: rank (as a decimal string) → "host:port". */
  entries(): Promise<Record<string, string>>;
  /**
   * A separate namespace for a sub-group (e.g. "tp.0.1"), whose ranks are group-local; every call with the same
   * name gives the same namespace. Optional so that books written before process groups still type-check; process
   * groups refuse a book without it when they need a sub-group.
   */
  sub?(name: string): AddressBook;
}

const SUB_NAME = /^[A-Za-z0-9._-]+$/;

function checkSubName(group: string, name: string): void {
  if (!SUB_NAME.test(name)) throw new RendezvousConfigError(group, `sub-group name ${JSON.stringify(name)} is not [A-Za-z0-9._-]+`);
}

/**
 * `gantry:trainer:{<uid>}:<attempt>:peers`, a hash that expires `ttlSeconds` after the last registration; a sub-group
 * `name` is the hash `…:peers:<name>` with the same TTL.
 */
export class RedisAddressBook implements AddressBook {
  readonly group: string;
  readonly key: string;

  constructor(
    private readonly redis: Pick<Redis, "multi" | "hgetall">,
    readonly jobUid: string,
    readonly attempt: number,
    private readonly ttlSeconds = 3600,
    /** The sub-group names from the job's book down to this one (empty: the job's own book). */
    readonly path: readonly string[] = [],
  ) {
    this.key = [peersKey(jobUid, attempt), ...path].join(":");
    this.group = [`job ${jobUid} attempt ${attempt}`, ...path].join(" ");
    for (const name of path) checkSubName(this.group, name);
  }

  sub(name: string): RedisAddressBook {
    return new RedisAddressBook(this.redis, this.jobUid, this.attempt, this.ttlSeconds, [...this.path, name]);
  }

  async register(rank: number, address: string): Promise<void> {
    const results = await this.redis.multi().hset(this.key, String(rank), address).expire(this.key, this.ttlSeconds).exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
  }

  entries(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.key);
  }
}

/** A book shared by the ranks of one process: for tests and single-process runs. */
export class MemoryAddressBook implements AddressBook {
  private readonly map = new Map<string, string>();
  private readonly subs = new Map<string, MemoryAddressBook>();
  constructor(readonly group = "in-memory") {}
  /** Kept per name, so every rank sharing this book meets in the same sub-book. */
  sub(name: string): MemoryAddressBook {
    checkSubName(this.group, name);
    let book = this.subs.get(name);
    if (book === undefined) this.subs.set(name, (book = new MemoryAddressBook(`${this.group} ${name}`)));
    return book;
  }
  register(rank: number, address: string): Promise<void> {
    this.map.set(String(rank), address);
    return Promise.resolve();
  }
  entries(): Promise<Record<string, string>> {
    return Promise.resolve(Object.fromEntries(this.map));
  }
}

export interface RendezvousOptions {
  book: AddressBook;
  rank: number;
  worldSize: number;
  /** Where this rank accepts its ring connection: POD_IP in a pod, 127.0.0.1 locally. */
  address: PeerAddress;
  /** Give up after this long, naming the ranks that never registered (default 300 s). */
  timeoutMs?: number;
  /** How often to re-read the book (default 100 ms). */
  pollMs?: number;
}

/** Registers this rank and resolves with every rank's address, indexed by rank. */
export async function rendezvous(options: RendezvousOptions): Promise<PeerAddress[]> {
  const { book, rank, worldSize } = options;
  const timeoutMs = options.timeoutMs ?? 300_000;
  const pollMs = options.pollMs ?? 100;
  checkRank(book.group, rank, worldSize);
  await book.register(rank, formatAddress(options.address));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const peers = collectPeers(book.group, await book.entries(), worldSize);
    if (peers.complete) return peers.addresses;
    if (Date.now() >= deadline) throw new RendezvousTimeoutError(book.group, worldSize, peers.missing, timeoutMs);
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
  }
}

/** The host other ranks should dial: the pod's IP when the operator set it, else loopback. */
export function advertiseHost(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const ip = env["POD_IP"];
  return ip !== undefined && ip !== "" ? ip : "127.0.0.1";
}
