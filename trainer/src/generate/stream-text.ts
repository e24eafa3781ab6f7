// Text out as tokens arrive: decodes the tokens so far and hands on only the new, complete part (a multi-byte
// character split across tokens waits for its last byte), so streamed text equals the text decoded at the end.
import type { TokenizerName } from "@gantry/crds";
import { decodeTokens } from "./decode.js";

export class TextStreamer {
  private tokens: number[] = [];
  private printed = "";

  constructor(
    private readonly tokenizer: TokenizerName,
    private readonly write: (text: string) => void,
    private readonly skip: ReadonlySet<number> = new Set(),
  ) {}

  push(token: number): void {
    if (this.skip.has(token)) return;
    this.tokens.push(token);
    const text = decodeTokens(this.tokenizer, this.tokens);
    if (text.endsWith("\uFFFD") || !text.startsWith(this.printed)) return;
    this.write(text.slice(this.printed.length));
    this.printed = text;
  }

  /** Whatever is left (a trailing partial character as the replacement character). */
  end(): void {
    const text = decodeTokens(this.tokenizer, this.tokens);
    if (text.startsWith(this.printed)) this.write(text.slice(this.printed.length));
    this.printed = text;
  }
}
