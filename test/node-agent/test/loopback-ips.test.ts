import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IpBaseError, allocatePodIp, defaultIpBase, parseIpBase } from "../loopback-ips.js";

describe("parseIpBase", () => {
  it.each(["10.0.0.0", "127.0.1.5", "127.0.1", "127.0.300.0", "localhost"])("rejects %s", (base) => {
    expect(() => parseIpBase(base)).toThrow(IpBaseError);
  });
  it("accepts a 127.x.y.0", () => {
    expect(parseIpBase("127.0.1.0")).toBe(0x7f000100);
  });
});

describe("allocatePodIp", () => {
  it("hands out the lowest free address, never .0, .255 or the host's 127.0.0.1", () => {
    expect(allocatePodIp("127.0.1.0", new Set())).toBe("127.0.1.1");
    expect(allocatePodIp("127.0.1.0", new Set(["127.0.1.1", "127.0.1.2"]))).toBe("127.0.1.3");
    expect(allocatePodIp("127.0.0.0", new Set())).toBe("127.0.0.2");
  });

  it("returns undefined once all 254 are used", () => {
    const used = new Set(Array.from({ length: 254 }, (_, i) => `127.0.1.${i + 1}`));
    expect(allocatePodIp("127.0.1.0", used)).toBeUndefined();
  });

  it("gives distinct addresses to pods allocated one after another", () => {
    const used = new Set<string>();
    for (let i = 0; i < 50; i++) used.add(allocatePodIp("127.9.9.0", used) ?? "none");
    expect(used.size).toBe(50);
    expect([...used].every((ip) => ip.startsWith("127.9.9."))).toBe(true);
  });
});

describe("defaultIpBase", () => {
  it("is a valid base away from 127.0.x, the same for the same name", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (name) => {
        const base = defaultIpBase(name);
        expect(() => parseIpBase(base)).not.toThrow();
        expect(Number(base.split(".")[1])).toBeGreaterThanOrEqual(16);
        expect(defaultIpBase(name)).toBe(base);
      }),
    );
  });
});
