// The tokenizers a job can name (data.tokenizer): gpt2 = r50k_base via gpt-tokenizer, cl100k_base via js-tiktoken, and raw UTF-8 bytes.
import { TOKENIZER_VOCAB, type TokenizerName } from "@gantry/crds";
import { encode as encodeR50k } from "gpt-tokenizer/encoding/r50k_base";
import { Tiktoken } from "js-tiktoken/lite";
import cl100kRanks from "js-tiktoken/ranks/cl100k_base";
import { tokenDtypeFor, type TokenDtype } from "../megatron/dtype.js";

export interface Tokenizer {
  name: TokenizerName;
  vocabSize: number;
  /** Put after each document by the packer: <|endoftext|> for the BPEs, NUL for bytes. */
  eosToken: number;
  dtype: TokenDtype;
  /** Special-token text in the input is encoded as ordinary text, never as the special token. */
  encode(text: string): number[];
}

const NO_SPECIALS = new Set<string>();
let cl100k: Tiktoken | undefined;

export function tokenizerFor(name: TokenizerName): Tokenizer {
  const vocabSize = TOKENIZER_VOCAB[name];
  const dtype = tokenDtypeFor(vocabSize);
  switch (name) {
    case "gpt2":
      return { name, vocabSize, dtype, eosToken: 50256, encode: (text) => encodeR50k(text, { disallowedSpecial: NO_SPECIALS }) };
    case "cl100k_base":
      return {
        name,
        vocabSize,
        dtype,
        eosToken: 100257,
        encode: (text) => {
          // The rank table is large: build the encoder on first use only.
          cl100k ??= new Tiktoken(cl100kRanks);
          return cl100k.encode(text, [], []);
        },
      };
    case "bytes": {
      const utf8 = new TextEncoder();
      return { name, vocabSize, dtype: "uint8", eosToken: 0, encode: (text) => Array.from(utf8.encode(text)) };
    }
  }
}
