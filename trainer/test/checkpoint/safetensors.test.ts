import { describe, expect, it } from "vitest";
import { SafetensorsFormatError, decodeSafetensors, encodeSafetensors, f16ToF32, toNamedArray } from "../../src/checkpoint/safetensors.js";

/** A file from its header JSON text and data bytes, padded as the spec says. */
function file(headerJson: string, data: number[], headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(headerJson);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  out.set(data, 8 + padded);
  return out;
}

describe("safetensors encode", () => {
  it("writes the exact bytes of the spec: length, space-padded JSON header, little-endian data", () => {
    const bytes = encodeSafetensors([{ name: "w", shape: [2], data: Float32Array.from([1, -2]) }, { name: "s", shape: [], data: Int32Array.from([7]) }], { step: "3" });
    const header = '{"__metadata__":{"step":"3"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"s":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}';
    expect(header.length).toBe(135);
    const expected = [136, 0, 0, 0, 0, 0, 0, 0, ...Array.from(new TextEncoder().encode(header)), 0x20, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 7, 0, 0, 0];
    expect(Array.from(bytes)).toEqual(expected);
  });

  it("round-trips names, shapes, dtypes, values and metadata", () => {
    const tensors = [
      { name: "h.0.attn.q", shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => i / 7 - 1) },
      { name: "empty", shape: [0, 4], data: new Float32Array(0) },
      { name: "step", shape: [1], data: Int32Array.from([-123456]) },
    ];
    const decoded = decodeSafetensors(encodeSafetensors(tensors, { kind: "model" }));
    expect(decoded.metadata).toEqual({ kind: "model" });
    expect(decoded.tensors.map(toNamedArray)).toEqual(tensors);
    expect(decoded.tensors.map((t) => t.dtype)).toEqual(["F32", "F32", "I32"]);
  });

  it("refuses data that does not match its shape, and reserved names", () => {
    expect(() => encodeSafetensors([{ name: "a", shape: [2, 2], data: new Float32Array(3) }])).toThrow(/has 4 elements, data has 3/);
    expect(() => encodeSafetensors([{ name: "__metadata__", shape: [1], data: new Float32Array(1) }])).toThrow(/reserved/);
  });
});

describe("safetensors decode", () => {
  it("decodes a hand-built file with F16, BF16 and I64 tensors, in offset order regardless of key order", () => {
    const bytes = file('{"b":{"dtype":"I64","shape":[2],"data_offsets":[4,20]},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"c":{"dtype":"BF16","shape":[1,1],"data_offsets":[20,22]},"__metadata__":{"format":"pt"}}', [
      0x00, 0x3c, 0x00, 0xc0, // F16 1, -2
      0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x2a, 0, 0, 0, 0, 0, 0, 0, // I64 -5, 42
      0xc0, 0x3f, // BF16 1.5
    ]);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: "pt" });
    expect(tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([["b", "I64", [2]], ["a", "F16", [2]], ["c", "BF16", [1, 1]]]);
    expect(tensors.map(toNamedArray).map((t) => Array.from(t.data))).toEqual([[-5, 42], [1, -2], [1.5]]);
  });

  it("converts half precision exactly, subnormals and infinities included", () => {
    expect([0x0001, 0x3555, 0x7bff, 0xfc00, 0x8000].map(f16ToF32)).toEqual([2 ** -24, 0.333251953125, 65504, -Infinity, -0]);
  });

  const cases: [string, Uint8Array, RegExp][] = [
    ["too short for the length", new Uint8Array(5), /shorter than the 8-byte header length/],
    ["header longer than the file", file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0], 4096), /header length 4096 runs past the end/],
    ["absurd header length", file("{}", [], 2 ** 40), /exceeds 100000000/],
    ["not JSON", file("{not json", []), /not UTF-8 JSON/],
    ["overlapping offsets", file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0)), /tensor b: data_offsets \[4, 8\] overlap the previous tensor, which ends at 8/],
    ["offsets past the end", file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', [0, 0, 0, 0]), /run past the 4 data bytes/],
    ["a gap", file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0)), /leaving a gap after 0/],
    ["trailing bytes", file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Array(8).fill(0)), /cover 4 of the 8 data bytes/],
    ["size disagreeing with shape", file('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Array(8).fill(0)), /F32 \[3\] needs 12 bytes, data_offsets give 8/],
    ["unknown dtype", file('{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', new Array(8).fill(0)), /dtype "F64" is not one of/],
    ["non-string metadata", file('{"__metadata__":{"n":1}}', []), /__metadata__.n is not a string/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`refuses ${what} with a SafetensorsFormatError naming the problem`, () => {
      let err: unknown;
      try {
        decodeSafetensors(bytes, "model.safetensors");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SafetensorsFormatError);
      expect((err as Error).message).toMatch(/^model\.safetensors is not valid safetensors: /);
      expect((err as Error).message).toMatch(message);
    });
  }
});
