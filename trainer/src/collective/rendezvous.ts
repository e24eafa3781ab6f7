// Rendezvous: every rank registers where it listens and waits until the whole world has. The address book is Redis in
// a cluster (no DNS needed: pods register POD_IP) and an in-memory map in tests.
import type { Redis } from "ioredis";
import { RendezvousTimeoutError } from "./errors.js";
import { checkRank, collectPeers, formatAddress, peersKey, type PeerAddress } from "./rendezvous-plan.js";

/** Where ranks publish their addresses. */
export interface AddressBook {
  /** Names the group in messages (job and attempt). */
  readonly group: string;
  register(rank: number, address: string): Promise<void>;
  /** Every entry so far: rank (as a decimal string) → "host:port". */
  entries(): Promise<Record<string, string>>;
}

/** `gantry:trainer:{<uid>}:<attempt>:peers`, a hash that expires `ttlSeconds` after the last registration. */
export class RedisAddressBook implements AddressBook {
  readonly group: string;
  readonly key: string;

  constructor(
    private readonly redis: Pick<Redis, "multi" | "hgetall">,
    readonly jobUid: string,
    readonly attempt: number,
    private readonly ttlSeconds = 3600,
  ) {
    this.key = peersKey(jobUid, attempt);
    this.group = `job ${jobUid} attempt ${attempt}`;
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
  constructor(readonly group = "in-memory") {}
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
