// Pod IPs from the loopback network. Linux routes all of 127.0.0.0/8 to the loopback interface, so a process can
// bind 127.a.b.c without any setup: each pod gets an address of its own, and pods reach each other by it.
import { createHash } from "node:crypto";

export class IpBaseError extends Error {
  constructor(
    readonly value: string,
    why: string,
  ) {
    super(`--ip-base ${value}: ${why}`);
    this.name = "IpBaseError";
  }
}

const toInt = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");

/** Checks that `base` is a 127.x.y.0 address and returns it as a number. */
export function parseIpBase(base: string): number {
  const parts = base.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new IpBaseError(base, "not an IPv4 address");
  if (parts[0] !== "127") throw new IpBaseError(base, "must be in 127.0.0.0/8, which Linux routes to the loopback interface");
  if (parts[3] !== "0") throw new IpBaseError(base, "must end in .0: pods get .1 to .254 of it");
  return toInt(base);
}

/**
 * A /24 of its own for each node name, in 127.16.0.0 to 127.215.255.0, so agents for different nodes rarely collide
 * without being told; pass --ip-base to be certain.
 */
export function defaultIpBase(nodeName: string): string {
  const h = createHash("sha256").update(nodeName).digest();
  return `127.${16 + ((h[0] ?? 0) % 200)}.${h[1] ?? 0}.0`;
}

/** The first of base+1 … base+254 that is not in `used` (never 127.0.0.1, the host's), or undefined when all are. */
export function allocatePodIp(base: string, used: ReadonlySet<string>): string | undefined {
  const start = parseIpBase(base);
  for (let i = 1; i <= 254; i++) {
    const ip = toIp(start + i);
    if (ip !== "127.0.0.1" && !used.has(ip)) return ip;
  }
  return undefined;
}
