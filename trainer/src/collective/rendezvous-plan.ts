// Rendezvous decisions, pure: the Redis key of a gang's address book, the address format, and who is still missing.
import { RendezvousConfigError } from "./errors.js";

/** Hash rank → "host:port" for one attempt of one job; the {uid} hash tag keeps a job's keys in one cluster slot. */
export function peersKey(jobUid: string, attempt: number): string {
  if (jobUid === "" || /[{}\s]/.test(jobUid)) throw new RangeError(`job uid ${JSON.stringify(jobUid)} cannot name Redis keys`);
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be a non-negative integer, got ${attempt}`);
  return `gantry:trainer:{${jobUid}}:${attempt}:peers`;
}

export interface PeerAddress {
  host: string;
  port: number;
}

/** "host:port", with IPv6 hosts in brackets. */
export function formatAddress({ host, port }: PeerAddress): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseAddress(group: string, text: string): PeerAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (host === undefined || !(port >= 1 && port <= 65535)) throw new RendezvousConfigError(group, `address ${JSON.stringify(text)} is not host:port`);
  return { host, port };
}

export type PeerCollection = { complete: true; addresses: PeerAddress[] } | { complete: false; missing: number[] };

/** The world's addresses from the book's entries (rank → address), or the ranks not registered yet. Extra keys are ignored. */
export function collectPeers(group: string, entries: Readonly<Record<string, string>>, worldSize: number): PeerCollection {
  const addresses: PeerAddress[] = [];
  const missing: number[] = [];
  for (let rank = 0; rank < worldSize; rank++) {
    const text = entries[String(rank)];
    if (text === undefined) missing.push(rank);
    else addresses.push(parseAddress(group, text));
  }
  return missing.length === 0 ? { complete: true, addresses } : { complete: false, missing };
}

export function checkRank(group: string, rank: number, worldSize: number): void {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RendezvousConfigError(group, `world size ${worldSize} is not a positive integer`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new RendezvousConfigError(group, `rank ${rank} is not in [0, ${worldSize})`);
}
