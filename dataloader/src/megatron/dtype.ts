// Token dtypes of the Megatron indexed dataset, by the code its .idx header stores.

export const DTYPES = {
  uint8: { code: 1, bytes: 1 },
  int8: { code: 2, bytes: 1 },
  int16: { code: 3, bytes: 2 },
  int32: { code: 4, bytes: 4 },
  int64: { code: 5, bytes: 8 },
  float64: { code: 6, bytes: 8 },
  float32: { code: 7, bytes: 4 },
  uint16: { code: 8, bytes: 2 },
} as const;

export type DtypeName = keyof typeof DTYPES;
export const DTYPE_NAMES = Object.keys(DTYPES) as [DtypeName, ...DtypeName[]];

/** Dtypes that can hold token ids exactly; the float codes exist in the format but are no use for tokens. */
export type TokenDtype = "uint8" | "int8" | "int16" | "uint16" | "int32";
export const TOKEN_DTYPES: readonly TokenDtype[] = ["uint8", "int8", "int16", "uint16", "int32"];

export function dtypeByCode(code: number): DtypeName | undefined {
  return DTYPE_NAMES.find((name) => DTYPES[name].code === code);
}

/** The smallest dtype that holds every id of a vocabulary, as Megatron's preprocessing picks it. */
export function tokenDtypeFor(vocabSize: number): TokenDtype {
  return vocabSize <= 65_536 ? "uint16" : "int32";
}

export type TokenArray = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array;

/** A typed view of `length` tokens at `byteOffset` of `buffer`; copies when the offset is not aligned to the dtype. */
export function tokenView(dtype: TokenDtype, bytes: Uint8Array, byteOffset: number, length: number): TokenArray {
  const size = DTYPES[dtype].bytes;
  const start = bytes.byteOffset + byteOffset;
  const buffer = start % size === 0 ? bytes.buffer : bytes.slice(byteOffset, byteOffset + length * size).buffer;
  const at = start % size === 0 ? start : 0;
  switch (dtype) {
    case "uint8":
      return new Uint8Array(buffer, at, length);
    case "int8":
      return new Int8Array(buffer, at, length);
    case "int16":
      return new Int16Array(buffer, at, length);
    case "uint16":
      return new Uint16Array(buffer, at, length);
    case "int32":
      return new Int32Array(buffer, at, length);
  }
}

/** Little-endian bytes of `tokens` in `dtype`; rejects ids the dtype cannot hold rather than wrapping them. */
export function encodeTokens(dtype: TokenDtype, tokens: ArrayLike<number>): Uint8Array {
  const size = DTYPES[dtype].bytes;
  const out = new Uint8Array(tokens.length * size);
  const view = new DataView(out.buffer);
  const [min, max] = TOKEN_RANGE[dtype];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] ?? 0;
    if (!Number.isInteger(t) || t < min || t > max) throw new RangeError(`token ${t} at ${i} does not fit ${dtype}`);
    switch (dtype) {
      case "uint8":
        view.setUint8(i, t);
        break;
      case "int8":
        view.setInt8(i, t);
        break;
      case "int16":
        view.setInt16(i * 2, t, true);
        break;
      case "uint16":
        view.setUint16(i * 2, t, true);
        break;
      case "int32":
        view.setInt32(i * 4, t, true);
        break;
    }
  }
  return out;
}

const TOKEN_RANGE: Record<TokenDtype, readonly [number, number]> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
};
