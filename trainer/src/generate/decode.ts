// Tokens back to text for the tokenizers a job can name.
import type { TokenizerName } from "@gantry/crds";
import { decode as decodeR50k } from "gpt-tokenizer/encoding/r50k_base";
import { Tiktoken } from "js-tiktoken/lite";
import cl100kRanks from "js-tiktoken/ranks/cl100k_base";

let cl100k: Tiktoken | undefined;

export function decodeTokens(tokenizer: TokenizerName, tokens: readonly number[]): string {
  switch (tokenizer) {
    case "gpt2":
      return decodeR50k(tokens);
    case "cl100k_base":
      cl100k ??= new Tiktoken(cl100kRanks);
      return cl100k.decode([...tokens]);
    case "bytes":
      return new TextDecoder().decode(Uint8Array.from(tokens));
  }
}
