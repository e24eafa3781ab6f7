// Worker thread of the tokenizer pool: encodes batches of texts and sends the tokens back without a copy.
import { parentPort } from "node:worker_threads";
import { encodeBatch, type EncoderName } from "./encoders.js";

interface Request {
  id: number;
  name: EncoderName;
  texts: string[];
}

parentPort?.on("message", (req: Request) => {
  try {
    const out = encodeBatch(req.name, req.texts);
    parentPort?.postMessage({ id: req.id, ok: true, tokens: out.tokens, lengths: out.lengths }, [out.tokens.buffer as ArrayBuffer, out.lengths.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort?.postMessage({ id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) });
  }
});
