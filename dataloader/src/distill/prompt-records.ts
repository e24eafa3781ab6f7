// The inputs of black-box distillation, read from JSONL: one prompt per line ({"prompt": ...}, optional "id"), and
// for in-context learning the worked examples ({"input": ..., "output": ...}). Pure: text in, checked records out,
// with the file and line of the first bad one.

export interface PromptRecord {
  /** From the line's "id", else its 1-based line number. */
  id: string;
  prompt: string;
}

export interface Example {
  input: string;
  output: string;
}

export class PromptFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = "PromptFileError";
  }
}

function objectLines(text: string, file: string): { line: number; value: Record<string, unknown> }[] {
  const out: { line: number; value: Record<string, unknown> }[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new PromptFileError(file, i + 1, `not JSON: ${(err as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PromptFileError(file, i + 1, "each line must be a JSON object");
    out.push({ line: i + 1, value: value as Record<string, unknown> });
  });
  return out;
}

const stringField = (v: Record<string, unknown>, field: string, file: string, line: number): string => {
  const s = v[field];
  if (typeof s !== "string" || s === "") throw new PromptFileError(file, line, `needs a non-empty string "${field}"`);
  return s;
};

/** Prompts from JSONL text; `field` names the prompt's field (default "prompt"). */
export function parsePrompts(text: string, file: string, field = "prompt"): PromptRecord[] {
  const records = objectLines(text, file).map(({ line, value }) => {
    const id = value["id"];
    return { id: typeof id === "string" || typeof id === "number" ? String(id) : String(line), prompt: stringField(value, field, file, line) };
  });
  if (records.length === 0) throw new PromptFileError(file, 0, "holds no prompts");
  return records;
}

/** In-context examples from JSONL text. */
export function parseExamples(text: string, file: string): Example[] {
  return objectLines(text, file).map(({ line, value }) => ({ input: stringField(value, "input", file, line), output: stringField(value, "output", file, line) }));
}
