// The tokenizers a job can name (data.tokenizer): gpt2 = r50k_base via gpt-tokenizer, cl100k_base via js-tiktoken, and raw UTF-8 bytes.
import { TOKENIZER_VOCAB, type TokenizerName } from "@gantry/crds";
import { tokenDtypeFor, type TokenDtype } from "../megatron/dtype.js";
import { encodeText } from "./encoders.js";

export interface Tokenizer {
  name: TokenizerName;
  vocabSize: number;
  /** Put after each document by the packer: <|endoftext|> for the BPEs, NUL for bytes. */
  eosToken: number;
  dtype: TokenDtype;
  /** Special-token text in the input is encoded as ordinary text, never as the special token. */
  encode(text: string): number[];
}

const EOS: Record<TokenizerName, number> = { gpt2: 50256, cl100k_base: 100257, bytes: 0 };

export function tokenizerFor(name: TokenizerName): Tokenizer {
  const vocabSize = TOKENIZER_VOCAB[name];
  return { name, vocabSize, dtype: name === "bytes" ? "uint8" : tokenDtypeFor(vocabSize), eosToken: EOS[name], encode: (text) => encodeText(name, text) };
}
