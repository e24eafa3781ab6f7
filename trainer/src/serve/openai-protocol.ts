// The subset of the OpenAI HTTP API that gantry-serve speaks (non-streaming completions and chat completions), as
// schemas and pure builders: requests parsed and checked here, responses shaped here, so the server is only routing.
import { z } from "zod";

const Stop = z.union([z.string(), z.array(z.string()).max(4)]).optional();

const Sampling = {
  model: z.string().optional(),
  max_tokens: z.int().min(0).max(4096).default(16),
  temperature: z.number().min(0).max(2).default(1),
  /** Not in OpenAI's API; llama.cpp and vLLM accept it. 0 = all tokens. */
  top_k: z.int().min(0).default(0),
  seed: z.int().min(0).max(4_294_967_295).default(0),
  n: z.int().min(1).max(8).default(1),
  stop: Stop,
  stream: z.literal(false).optional(),
  user: z.string().optional(),
};

export const CompletionRequest = z.object({ ...Sampling, prompt: z.union([z.string(), z.array(z.string()).length(1)]) });

export const ChatMessage = z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() });
export const ChatCompletionRequest = z.object({ ...Sampling, messages: z.array(ChatMessage).min(1) });

export type CompletionRequest = z.output<typeof CompletionRequest>;
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequest>;
export type ChatMessage = z.output<typeof ChatMessage>;

/** A request the server refuses: HTTP status plus OpenAI's error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: "invalid_request_error" | "not_found_error" | "rate_limit_error" | "server_error",
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  body(): { error: { message: string; type: string; param: string | null; code: null } } {
    return { error: { message: this.message, type: this.type, param: this.param ?? null, code: null } };
  }
}

/** Parses `body` with `schema`, or throws ApiError 400 naming the first bad field. */
export function parseRequest<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue?.path.join(".") ?? "";
  throw new ApiError(400, "invalid_request_error", `${param || "body"}: ${issue?.message ?? "invalid"}`, param || undefined);
}

/**
 * The plain-text transcript a base model continues: one "role: content" line per message, then "assistant:". Our
 * models have no chat template; this is the convention the black-box corpus generator's prompts follow too.
 */
export function chatTranscript(messages: readonly ChatMessage[]): string {
  return `${messages.map((m) => `${m.role}: ${m.content}`).join("\n")}\nassistant:`;
}

/** The text up to the first stop sequence, and whether one was found. */
export function cutAtStop(text: string, stop: string | string[] | undefined): { text: string; stopped: boolean } {
  const stops = stop === undefined ? [] : Array.isArray(stop) ? stop : [stop];
  let at = -1;
  for (const s of stops) {
    if (s === "") continue;
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at < 0 ? { text, stopped: false } : { text: text.slice(0, at), stopped: true };
}

export interface Generated {
  text: string;
  finishReason: "stop" | "length";
  promptTokens: number;
  completionTokens: number;
}

const usage = (g: readonly Generated[]) => {
  const prompt = g[0]?.promptTokens ?? 0;
  const completion = g.reduce((s, x) => s + x.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
};

export function completionResponse(id: string, model: string, created: number, choices: readonly Generated[]) {
  return {
    id,
    object: "text_completion" as const,
    created,
    model,
    choices: choices.map((c, index) => ({ index, text: c.text, logprobs: null, finish_reason: c.finishReason })),
    usage: usage(choices),
  };
}

export function chatCompletionResponse(id: string, model: string, created: number, choices: readonly Generated[]) {
  return {
    id,
    object: "chat.completion" as const,
    created,
    model,
    choices: choices.map((c, index) => ({ index, message: { role: "assistant" as const, content: c.text }, finish_reason: c.finishReason })),
    usage: usage(choices),
  };
}
