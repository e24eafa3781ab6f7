import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameDecoder, FrameFormatError, encodeFrameHeader } from "../../src/collective/frame-codec.js";

const encode = (tag: number, body: Uint8Array) => {
  const out = new Uint8Array(8 + body.length);
  out.set(encodeFrameHeader(body.length, tag));
  out.set(body, 8);
  return out;
};

describe("frame codec", () => {
  it("writes the length and tag little-endian", () => {
    expect(Array.from(encodeFrameHeader(0x01020304, 0xa0b0c0d0))).toEqual([4, 3, 2, 1, 0xd0, 0xc0, 0xb0, 0xa0]);
  });

  it("reassembles any sequence of frames from any cutting of the stream, empty bodies included", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ tag: fc.nat({ max: 0xffffffff }), body: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 8 }),
        fc.array(fc.nat({ max: 50 }), { maxLength: 20 }),
        (frames, cuts) => {
          const stream = Uint8Array.from(frames.flatMap((f) => Array.from(encode(f.tag, f.body))));
          const decoder = new FrameDecoder();
          const got: { tag: number; body: number[] }[] = [];
          let at = 0;
          for (const cut of [...cuts, stream.length]) {
            const end = Math.min(stream.length, at + cut);
            for (const f of decoder.push(stream.subarray(at, end))) got.push({ tag: f.tag, body: Array.from(f.body) });
            at = end;
          }
          for (const f of decoder.push(stream.subarray(at))) got.push({ tag: f.tag, body: Array.from(f.body) });
          expect(got).toEqual(frames.map((f) => ({ tag: f.tag, body: Array.from(f.body) })));
          expect(decoder.partialBytes).toBe(0);
        },
      ),
    );
  });

  it("gives each body its own buffer at offset 0, so it can be viewed as floats", () => {
    const floats = Float32Array.from([1.5, -2.25, 3]);
    const bytes = encode(7, new Uint8Array(floats.buffer));
    const [frame] = new FrameDecoder().push(bytes.subarray(0, 13)).concat(new FrameDecoder().push(bytes));
    expect(frame?.body.byteOffset).toBe(0);
    expect(Array.from(new Float32Array(frame?.body.buffer ?? new ArrayBuffer(0)))).toEqual([1.5, -2.25, 3]);
  });

  it("refuses a frame longer than its limit", () => {
    expect(() => new FrameDecoder(16).push(encodeFrameHeader(17, 1))).toThrow(FrameFormatError);
    expect(() => new FrameDecoder(16).push(encodeFrameHeader(17, 1))).toThrow(/17 bytes exceeds the limit of 16/);
  });
});
