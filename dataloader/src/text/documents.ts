// Turns raw-text inputs into documents: one per JSONL record (its text field), or one per .txt file.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

/** A JSONL line that is not an object with a string text field. */
export class InvalidRecordError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = "InvalidRecordError";
  }
}

/** The text of one JSONL line; undefined for a blank line. */
export function recordText(file: string, line: number, text: string, field: string): string | undefined {
  if (text.trim() === "") return undefined;
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (err) {
    throw new InvalidRecordError(file, line, `not JSON: ${(err as Error).message}`);
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) throw new InvalidRecordError(file, line, "not a JSON object");
  const value = (record as Record<string, unknown>)[field];
  if (typeof value !== "string") throw new InvalidRecordError(file, line, `field ${JSON.stringify(field)} is ${value === undefined ? "missing" : `a ${typeof value}, not a string`}`);
  return value;
}

export async function* jsonlDocuments(file: string, field: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    const text = recordText(file, ++n, line, field);
    if (text !== undefined) yield text;
  }
}

export async function* textDocuments(file: string): AsyncGenerator<string> {
  const chunks: string[] = [];
  for await (const chunk of createReadStream(file, { encoding: "utf8" })) chunks.push(chunk as string);
  yield chunks.join("");
}
