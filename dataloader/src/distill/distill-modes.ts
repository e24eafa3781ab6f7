// What the teacher is asked and what the student learns, for each mode of black-box distillation. Pure: a prompt
// record (and the mode's settings) in, the teacher's prompt out; the teacher's answer in, the corpus record out.
//
//   plain  the prompt as is; the student learns prompt + completion.
//   cot    the prompt with a step-by-step cue; the student learns the question, the teacher's reasoning steps and
//          its answer, so the reasoning itself is the target (distilling step by step).
//   icl    a task description and k worked examples before the prompt; the student learns the zero-shot form
//          (description, input, the teacher's output), i.e. to do without the examples what the teacher did with them.
import type { Example, PromptRecord } from "./prompt-records.js";

export const DISTILL_MODES = ["plain", "cot", "icl"] as const;
export type DistillMode = (typeof DISTILL_MODES)[number];

export const COT_CUE = "Let's think step by step.";
/** Lines that introduce the final answer in a chain of thought; the text after it is the answer. */
const ANSWER_MARKERS = [/^\s*(?:final answer|answer)\s*[:：]\s*/im, /(?:therefore|so|thus),? the answer is\s*/i];

export interface ModeSettings {
  mode: DistillMode;
  /** icl: what the task is, one paragraph. */
  task?: string;
  /** icl: the k examples shown, in order. */
  examples?: readonly Example[];
}

export class ModeSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModeSettingsError";
  }
}

export function checkModeSettings(s: ModeSettings): void {
  if (s.mode === "icl") {
    if (s.task === undefined || s.task.trim() === "") throw new ModeSettingsError("icl mode needs a task description");
    if (s.examples === undefined || s.examples.length === 0) throw new ModeSettingsError("icl mode needs at least one example");
  }
}

const iclBlock = (input: string, output?: string) => `Input: ${input}\nOutput:${output === undefined ? "" : ` ${output}`}`;

/** The text sent to the teacher (as a completion prompt, or as the user message of a chat). */
export function teacherPrompt(s: ModeSettings, r: PromptRecord): string {
  switch (s.mode) {
    case "plain":
      return r.prompt;
    case "cot":
      return `Q: ${r.prompt}\nA: ${COT_CUE}`;
    case "icl":
      return [s.task ?? "", ...(s.examples ?? []).map((e) => iclBlock(e.input, e.output)), iclBlock(r.prompt)].join("\n\n");
  }
}

/** Where a base model's answer ends: at the next question (cot) or the next example (icl). */
export function modeStops(mode: DistillMode): string[] {
  return mode === "cot" ? ["\nQ:"] : mode === "icl" ? ["\nInput:"] : [];
}

/** The reasoning and the answer of a chain of thought: split at the last answer marker, else all reasoning. */
export function splitReasoning(completion: string): { reasoning: string; answer?: string } {
  for (const marker of ANSWER_MARKERS) {
    const global = new RegExp(marker.source, `${marker.flags.replace("g", "")}g`);
    let last: RegExpExecArray | undefined;
    for (let m = global.exec(completion); m !== null; m = global.exec(completion)) last = m;
    if (last !== undefined) {
      const answer = completion.slice(last.index + last[0].length).trim();
      return { reasoning: completion.slice(0, last.index).trim(), ...(answer === "" ? {} : { answer }) };
    }
  }
  return { reasoning: completion.trim() };
}

/** One line of the generated corpus: `text` is what `gantry-data prepare` tokenizes; the rest is provenance. */
export interface CorpusRecord {
  text: string;
  id: string;
  mode: DistillMode;
  prompt: string;
  completion: string;
  reasoning?: string;
  answer?: string;
  /** Examples shown to the teacher (icl). */
  shots?: number;
  /** The endpoint's finish reason, when it gave one. */
  finish?: string;
}

export function corpusRecord(s: ModeSettings, r: PromptRecord, completion: string, finish?: string): CorpusRecord {
  const base = { id: r.id, mode: s.mode, prompt: r.prompt, completion, ...(finish === undefined ? {} : { finish }) };
  switch (s.mode) {
    case "plain":
      return { text: r.prompt + completion, ...base };
    case "cot": {
      const parts = splitReasoning(completion);
      return { text: `Q: ${r.prompt}\nA: ${COT_CUE} ${completion.trim()}`, ...base, ...parts };
    }
    case "icl":
      return { text: `${s.task ?? ""}\n\n${iclBlock(r.prompt, completion.trim())}`, ...base, shots: s.examples?.length ?? 0 };
  }
}
