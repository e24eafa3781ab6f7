// A seeded bijection of [0, n) evaluated one index at a time: a balanced Feistel network with cycle walking.
// Any index's image costs O(1) and needs no table, which keeps sample order a pure function of its inputs.
import { hashWords, mix32 } from "./counter-hash.js";

const ROUNDS = 6;
export const MAX_DOMAIN = 2 ** 32;

export class FeistelPermutation {
  private readonly half: number;
  private readonly mask: number;
  private readonly scale: number;
  /** One key per round, hashed once here so each round costs a single mix. */
  private readonly roundKeys: Uint32Array;

  constructor(
    readonly n: number,
    key: number,
  ) {
    if (!Number.isInteger(n) || n < 0 || n > MAX_DOMAIN) throw new RangeError(`permutation domain ${n} is not an integer in [0, 2^32]`);
    const bits = Math.max(2, Math.ceil(Math.log2(Math.max(n, 2))));
    this.half = Math.ceil(bits / 2);
    this.mask = 2 ** this.half - 1;
    this.scale = 2 ** this.half;
    this.roundKeys = Uint32Array.from({ length: ROUNDS }, (_, r) => hashWords(key, r));
  }

  at(i: number): number {
    if (this.n <= 1) return i;
    let x = i;
    // The network permutes [0, 4^half) ⊇ [0, n); walking the cycle until it lands inside [0, n) keeps it a bijection of [0, n).
    do x = this.encrypt(x);
    while (x >= this.n);
    return x;
  }

  private encrypt(x: number): number {
    let left = Math.floor(x / this.scale);
    let right = x % this.scale;
    for (let r = 0; r < ROUNDS; r++) {
      const next = (left ^ (mix32(((this.roundKeys[r] ?? 0) ^ right) >>> 0) & this.mask)) >>> 0;
      left = right;
      right = next;
    }
    return left * this.scale + right;
  }
}
