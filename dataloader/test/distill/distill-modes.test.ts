// The prompts each mode sends and the records it keeps; the prompt and example files' checks.
import { describe, expect, it } from "vitest";
import { corpusRecord, splitReasoning, teacherPrompt, type ModeSettings } from "../../src/distill/distill-modes.js";
import { PromptFileError, parseExamples, parsePrompts } from "../../src/distill/prompt-records.js";

const r = { id: "7", prompt: "two plus two" };

describe("teacherPrompt and corpusRecord", () => {
  it("plain: the prompt as is; the target is prompt + completion", () => {
    const s: ModeSettings = { mode: "plain" };
    expect(teacherPrompt(s, r)).toBe("two plus two");
    expect(corpusRecord(s, r, " is four", "stop")).toEqual({ text: "two plus two is four", id: "7", mode: "plain", prompt: "two plus two", completion: " is four", finish: "stop" });
  });

  it("cot: a step-by-step cue; the target keeps every reasoning step, and the answer is split out", () => {
    const s: ModeSettings = { mode: "cot" };
    expect(teacherPrompt(s, r)).toBe("Q: two plus two\nA: Let's think step by step.");
    const rec = corpusRecord(s, r, " Two is 2.\nAdding 2 and 2 gives 4.\nAnswer: 4");
    expect(rec.text).toBe("Q: two plus two\nA: Let's think step by step. Two is 2.\nAdding 2 and 2 gives 4.\nAnswer: 4");
    expect(rec.reasoning).toBe("Two is 2.\nAdding 2 and 2 gives 4.");
    expect(rec.answer).toBe("4");
  });

  it("icl: task and k examples before the prompt; the target is the zero-shot form", () => {
    const s: ModeSettings = { mode: "icl", task: "Spell the number.", examples: [{ input: "one plus one", output: "two" }, { input: "two plus one", output: "three" }] };
    expect(teacherPrompt(s, r)).toBe("Spell the number.\n\nInput: one plus one\nOutput: two\n\nInput: two plus one\nOutput: three\n\nInput: two plus two\nOutput:");
    expect(corpusRecord(s, r, " four ")).toEqual({ text: "Spell the number.\n\nInput: two plus two\nOutput: four", id: "7", mode: "icl", prompt: "two plus two", completion: " four ", shots: 2 });
  });

  it("splitReasoning takes the last answer marker, or keeps it all as reasoning", () => {
    expect(splitReasoning("a\nAnswer: 1\nb\nFinal answer: 2")).toEqual({ reasoning: "a\nAnswer: 1\nb", answer: "2" });
    expect(splitReasoning("So the answer is 12.")).toEqual({ reasoning: "", answer: "12." });
    expect(splitReasoning(" just steps ")).toEqual({ reasoning: "just steps" });
  });
});

describe("prompt files", () => {
  it("reads prompts with ids (or line numbers) and examples", () => {
    expect(parsePrompts('{"prompt":"a","id":"x"}\n\n{"prompt":"b"}\n', "p.jsonl")).toEqual([{ id: "x", prompt: "a" }, { id: "3", prompt: "b" }]);
    expect(parsePrompts('{"q":"a"}', "p.jsonl", "q")).toEqual([{ id: "1", prompt: "a" }]);
    expect(parseExamples('{"input":"i","output":"o"}', "e.jsonl")).toEqual([{ input: "i", output: "o" }]);
  });

  it("names the file and line of a bad record", () => {
    expect(() => parsePrompts('{"prompt":"a"}\n{oops', "p.jsonl")).toThrow(/^p\.jsonl:2: not JSON/);
    expect(() => parsePrompts('{"text":"a"}', "p.jsonl")).toThrow(/p\.jsonl:1: needs a non-empty string "prompt"/);
    expect(() => parsePrompts("\n", "p.jsonl")).toThrow(PromptFileError);
    expect(() => parseExamples('["x"]', "e.jsonl")).toThrow(/e\.jsonl:1: each line must be a JSON object/);
  });
});
