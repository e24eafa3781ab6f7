// Parses `gantry-data distill` arguments into options; pure, so the command's contract is unit-tested.
import { parseArgs } from "node:util";
import { DISTILL_MODES, modeStops, type DistillMode } from "../distill/distill-modes.js";
import type { EndpointApi } from "../distill/openai-endpoint.js";
import { UsageError } from "./prepare-args.js";

export const DISTILL_USAGE = `usage: gantry-data distill --endpoint URL --prompts FILE --output FILE [options]

Generates a training corpus from a teacher's answers: each prompt (JSONL, one {"prompt": ...} per line, optional
"id") goes to an OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, or gantry-serve over a Gantry checkpoint), and
each answer becomes a line {"text": ..., "id", "mode", "prompt", "completion", ...} of the output JSONL, in prompt
order, ready for \`gantry-data prepare --format jsonl --text-field text\`.

  --endpoint URL      API base (http://host:8000/v1) or a full .../completions or .../chat/completions route
  --api A             completions (default) or chat (the prompt is sent as one user message)
  --model NAME        the "model" field of each request
  --mode M            plain (default): prompt + completion
                      cot: asks for step-by-step reasoning and keeps the reasoning steps in the target
                      icl: task description plus k examples before each prompt; the target is the zero-shot form
  --task TEXT         icl: the task description (or --task-file FILE)
  --examples FILE     icl: JSONL of {"input": ..., "output": ...} worked examples
  --shots K           icl: how many examples to show (default: all in --examples)
  --prompt-field F    field of the prompt in --prompts (default: prompt)
  --max-tokens N      per answer (default: 256)
  --temperature T     (default: 0)
  --seed S            sent as seed + prompt index, so a rerun asks the same (default: 0)
  --stop S            a stop sequence (repeatable: up to 4, 3 with --mode cot or icl)
  --concurrency N     requests in flight (default: 4)
  --retries N         retries of a failed request: connection errors, timeouts, 408, 429, 5xx (default: 4)
  --timeout-ms N      per request (default: 120000)
  --api-key-env VAR   environment variable holding the API key, sent as a bearer token (default: OPENAI_API_KEY when set)

The output is written to FILE.partial and renamed to FILE only when every prompt has its answer; a failed run
leaves no output behind and names the prompt, the URL and the cause.
`;

export interface DistillArgs {
  endpoint: string;
  api: EndpointApi;
  model?: string;
  prompts: string;
  output: string;
  mode: DistillMode;
  task?: string;
  taskFile?: string;
  examples?: string;
  shots?: number;
  promptField: string;
  maxTokens: number;
  temperature: number;
  seed: number;
  stop: string[];
  concurrency: number;
  retries: number;
  timeoutMs: number;
  apiKeyEnv?: string;
}

/** The most stop sequences an OpenAI-compatible endpoint (OpenAI, gantry-serve) accepts in one request. */
export const MAX_STOP_SEQUENCES = 4;

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not ${text}`);
  return n;
}

export function parseDistillArgs(argv: readonly string[]): DistillArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        endpoint: { type: "string" },
        api: { type: "string", default: "completions" },
        model: { type: "string" },
        prompts: { type: "string" },
        output: { type: "string" },
        mode: { type: "string", default: "plain" },
        task: { type: "string" },
        "task-file": { type: "string" },
        examples: { type: "string" },
        shots: { type: "string" },
        "prompt-field": { type: "string", default: "prompt" },
        "max-tokens": { type: "string", default: "256" },
        temperature: { type: "string", default: "0" },
        seed: { type: "string", default: "0" },
        stop: { type: "string", multiple: true, default: [] },
        concurrency: { type: "string", default: "4" },
        retries: { type: "string", default: "4" },
        "timeout-ms": { type: "string", default: "120000" },
        "api-key-env": { type: "string" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  for (const required of ["endpoint", "prompts", "output"] as const) if (v[required] === undefined) throw new UsageError(`--${required} is required`);
  const mode = DISTILL_MODES.find((m) => m === v.mode);
  if (mode === undefined) throw new UsageError(`--mode must be one of ${DISTILL_MODES.join(", ")}, not ${v.mode}`);
  if (v.api !== "completions" && v.api !== "chat") throw new UsageError(`--api must be completions or chat, not ${v.api}`);
  if (mode === "icl") {
    if (v.task === undefined && v["task-file"] === undefined) throw new UsageError("--mode icl needs --task or --task-file");
    if (v.examples === undefined) throw new UsageError("--mode icl needs --examples");
  } else if (v.task !== undefined || v["task-file"] !== undefined || v.examples !== undefined || v.shots !== undefined) {
    throw new UsageError(`--task, --task-file, --examples and --shots belong to --mode icl, not ${mode}`);
  }
  // OpenAI and gantry-serve take at most 4 stop sequences, and cot/icl add their own to the user's.
  const maxStops = MAX_STOP_SEQUENCES - modeStops(mode).length;
  if (v.stop.length > maxStops) throw new UsageError(`--stop is given ${v.stop.length} times; --mode ${mode} allows at most ${maxStops} (endpoints take ${MAX_STOP_SEQUENCES} stop sequences, ${modeStops(mode).length} of them the mode's own)`);
  const temperature = Number(v.temperature);
  if (!(temperature >= 0 && temperature <= 2)) throw new UsageError(`--temperature must be a number from 0 to 2, not ${v.temperature}`);
  return {
    endpoint: v.endpoint as string,
    api: v.api,
    ...(v.model === undefined ? {} : { model: v.model }),
    prompts: v.prompts as string,
    output: v.output as string,
    mode,
    ...(v.task === undefined ? {} : { task: v.task }),
    ...(v["task-file"] === undefined ? {} : { taskFile: v["task-file"] }),
    ...(v.examples === undefined ? {} : { examples: v.examples }),
    ...(v.shots === undefined ? {} : { shots: integer("shots", v.shots, 1, 1000) }),
    promptField: v["prompt-field"],
    maxTokens: integer("max-tokens", v["max-tokens"], 1, 1_000_000),
    temperature,
    seed: integer("seed", v.seed, 0, 4_294_967_295),
    stop: v.stop,
    concurrency: integer("concurrency", v.concurrency, 1, 256),
    retries: integer("retries", v.retries, 0, 100),
    timeoutMs: integer("timeout-ms", v["timeout-ms"], 1, 3_600_000),
    ...(v["api-key-env"] === undefined ? {} : { apiKeyEnv: v["api-key-env"] }),
  };
}
