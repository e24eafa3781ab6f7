// gantry-data distill: reads the prompts (and icl examples), asks the teacher endpoint, writes the corpus JSONL.
import { open, readFile, rename, rm } from "node:fs/promises";
import { generateCorpus } from "../distill/generate-corpus.js";
import { OpenAiEndpoint } from "../distill/openai-endpoint.js";
import { parseExamples, parsePrompts } from "../distill/prompt-records.js";
import { UsageError } from "./prepare-args.js";
import { parseDistillArgs, type DistillArgs } from "./distill-args.js";

async function readInput(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

export async function runDistill(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env, log: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const args: DistillArgs = parseDistillArgs(argv);
  const prompts = parsePrompts(await readInput(args.prompts, "--prompts"), args.prompts, args.promptField);
  const task = args.taskFile === undefined ? args.task : (await readInput(args.taskFile, "--task-file")).trim();
  const examples = args.examples === undefined ? undefined : parseExamples(await readInput(args.examples, "--examples"), args.examples).slice(0, args.shots);
  if (args.shots !== undefined && (examples?.length ?? 0) < args.shots) throw new UsageError(`--shots ${args.shots}, but ${args.examples ?? "--examples"} holds ${examples?.length ?? 0} example(s)`);
  const keyVar = args.apiKeyEnv ?? (env["OPENAI_API_KEY"] === undefined ? undefined : "OPENAI_API_KEY");
  const apiKey = keyVar === undefined ? undefined : env[keyVar];
  if (keyVar !== undefined && apiKey === undefined) throw new UsageError(`--api-key-env ${keyVar}: that variable is not set`);
  const teacher = new OpenAiEndpoint({
    url: args.endpoint,
    api: args.api,
    ...(args.model === undefined ? {} : { model: args.model }),
    ...(apiKey === undefined ? {} : { apiKey }),
    retries: args.retries,
    timeoutMs: args.timeoutMs,
  });
  const partial = `${args.output}.partial`;
  const file = await open(partial, "w");
  let records: number;
  try {
    ({ records } = await generateCorpus({
      settings: { mode: args.mode, ...(task === undefined ? {} : { task }), ...(examples === undefined ? {} : { examples }) },
      prompts,
      teacher,
      params: { maxTokens: args.maxTokens, temperature: args.temperature, seed: args.seed, stop: args.stop },
      concurrency: args.concurrency,
      output: partial,
      write: async (line) => {
        await file.write(line);
      },
    }));
    await file.close();
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw err;
  }
  await rename(partial, args.output);
  log(`wrote ${records} ${args.mode} record(s) from ${teacher.route} to ${args.output}`);
  return 0;
}
