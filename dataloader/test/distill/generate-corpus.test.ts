// generateCorpus's failure paths and the --stop limit of parseDistillArgs.
import { describe, expect, it } from "vitest";
import { DistillWriteError, generateCorpus, type Teacher } from "../../src/distill/generate-corpus.js";
import { parseDistillArgs } from "../../src/cli/distill-args.js";
import { UsageError } from "../../src/cli/prepare-args.js";

const prompts = Array.from({ length: 6 }, (_, i) => ({ id: String(i + 1), prompt: `p${i}` }));

describe("generateCorpus", () => {
  it("a rejected write fails the run naming the output, and no new requests start after it", async () => {
    let calls = 0;
    const teacher: Teacher = {
      complete: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        return { text: " x" };
      },
    };
    const run = generateCorpus({
      settings: { mode: "plain" },
      prompts,
      teacher,
      params: { maxTokens: 4, temperature: 0 },
      concurrency: 1,
      output: "out.jsonl.partial",
      write: () => Promise.reject(new Error("disk full")),
    });
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DistillWriteError);
    expect((err as DistillWriteError).output).toBe("out.jsonl.partial");
    expect((err as Error).message).toBe("writing out.jsonl.partial: disk full");
    expect(calls).toBeLessThan(prompts.length);
  });

  it("writes every record in prompt order when writes succeed", async () => {
    const lines: string[] = [];
    const teacher: Teacher = { complete: async (p) => ({ text: `:${p}` }) };
    const { records } = await generateCorpus({ settings: { mode: "plain" }, prompts, teacher, params: { maxTokens: 4, temperature: 0 }, concurrency: 3, write: (l) => void lines.push(l) });
    expect(records).toBe(6);
    expect(lines.map((l) => (JSON.parse(l) as { text: string }).text)).toEqual(prompts.map((p) => `${p.prompt}:${p.prompt}`));
  });
});

describe("parseDistillArgs --stop", () => {
  const base = ["--endpoint", "http://h/v1", "--prompts", "p", "--output", "o"];
  const stops = (n: number) => Array.from({ length: n }, (_, i) => ["--stop", `s${i}`]).flat();

  it("plain takes 4 stops, cot 3; one more is a UsageError naming the limit", () => {
    expect(parseDistillArgs([...base, ...stops(4)]).stop).toHaveLength(4);
    expect(() => parseDistillArgs([...base, ...stops(5)])).toThrow(UsageError);
    expect(parseDistillArgs([...base, "--mode", "cot", ...stops(3)]).stop).toHaveLength(3);
    expect(() => parseDistillArgs([...base, "--mode", "cot", ...stops(4)])).toThrow(/--mode cot allows at most 3/);
  });
});
