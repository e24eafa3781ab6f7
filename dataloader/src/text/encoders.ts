// The encode functions alone, without the job API's vocabulary table, so a tokenizer worker thread loads only these.
import { encode as encodeR50k } from "gpt-tokenizer/encoding/r50k_base";
import { Tiktoken } from "js-tiktoken/lite";
import cl100kRanks from "js-tiktoken/ranks/cl100k_base";

export type EncoderName = "gpt2" | "cl100k_base" | "bytes";

const NO_SPECIALS = new Set<string>();
let cl100k: Tiktoken | undefined;
const utf8 = new TextEncoder();

/** Special-token text in the input is encoded as ordinary text, never as the special token. */
export function encodeText(name: EncoderName, text: string): number[] {
  switch (name) {
    case "gpt2":
      return encodeR50k(text, { disallowedSpecial: NO_SPECIALS });
    case "cl100k_base":
      // The rank table is large: build the encoder on first use only.
      cl100k ??= new Tiktoken(cl100kRanks);
      return cl100k.encode(text, [], []);
    case "bytes":
      return Array.from(utf8.encode(text));
  }
}

export interface EncodedBatch {
  /** Every text's tokens, concatenated. */
  tokens: Int32Array;
  /** Tokens per text. */
  lengths: Int32Array;
}

export function encodeBatch(name: EncoderName, texts: readonly string[]): EncodedBatch {
  const parts = texts.map((t) => encodeText(name, t));
  const lengths = Int32Array.from(parts, (p) => p.length);
  const tokens = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    tokens.set(p, at);
    at += p.length;
  }
  return { tokens, lengths };
}
