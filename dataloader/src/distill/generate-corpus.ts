// Black-box distillation: every prompt through the teacher endpoint (a few at a time), each answer made a corpus
// record, the records written in prompt order whatever order the answers arrive in. The first failure stops the run
// (after the requests in flight settle) and is thrown with the prompt it was for.
import type { Completion, CompletionParams } from "./openai-endpoint.js";
import { checkModeSettings, corpusRecord, modeStops, teacherPrompt, type CorpusRecord, type ModeSettings } from "./distill-modes.js";
import type { PromptRecord } from "./prompt-records.js";

export interface Teacher {
  complete(prompt: string, params: CompletionParams): Promise<Completion>;
}

export interface CorpusOptions {
  settings: ModeSettings;
  prompts: readonly PromptRecord[];
  teacher: Teacher;
  /** Sampling; `seed` (when given) is offset by the prompt's index, so a rerun asks exactly the same. */
  params: CompletionParams;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Receives each JSONL line (with its newline), in prompt order. */
  write: (line: string) => void | Promise<void>;
  /** Where `write` puts the lines (a path), named in a write failure. */
  output?: string;
  onRecord?: (done: number, total: number) => void;
}

export class DistillPromptError extends Error {
  constructor(
    readonly id: string,
    override readonly cause: unknown,
  ) {
    super(`prompt ${id}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "DistillPromptError";
  }
}

export class DistillWriteError extends Error {
  constructor(
    readonly output: string,
    override readonly cause: unknown,
  ) {
    super(`writing ${output}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "DistillWriteError";
  }
}

export async function generateCorpus(opts: CorpusOptions): Promise<{ records: number }> {
  checkModeSettings(opts.settings);
  const total = opts.prompts.length;
  const stop = [...(opts.params.stop ?? []), ...modeStops(opts.settings.mode)];
  const results: (CorpusRecord | undefined)[] = new Array<CorpusRecord | undefined>(total);
  let next = 0;
  let flushed = 0;
  let failure: DistillPromptError | DistillWriteError | undefined;
  let writing: Promise<void> = Promise.resolve();

  const flush = () => {
    while (flushed < total && results[flushed] !== undefined) {
      const record = results[flushed] as CorpusRecord;
      results[flushed] = undefined;
      flushed++;
      const done = flushed;
      // Handled here, not only at the end: a rejected write would otherwise be unhandled while workers wait on HTTP.
      writing = writing
        .then(async () => {
          if (failure instanceof DistillWriteError) return;
          await opts.write(`${JSON.stringify(record)}\n`);
          opts.onRecord?.(done, total);
        })
        .catch((err: unknown) => {
          failure ??= new DistillWriteError(opts.output ?? "the corpus output", err);
        });
    }
  };

  const worker = async () => {
    while (failure === undefined && next < total) {
      const i = next++;
      const r = opts.prompts[i] as PromptRecord;
      try {
        const params: CompletionParams = { ...opts.params, stop, ...(opts.params.seed === undefined ? {} : { seed: opts.params.seed + i }) };
        const c = await opts.teacher.complete(teacherPrompt(opts.settings, r), params);
        results[i] = corpusRecord(opts.settings, r, c.text, c.finish);
        flush();
      } catch (err) {
        failure ??= new DistillPromptError(r.id, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, total)) }, worker));
  await writing;
  if (failure !== undefined) throw failure;
  return { records: flushed };
}
