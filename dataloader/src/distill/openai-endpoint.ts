// A client for any OpenAI-compatible HTTP endpoint (OpenAI, vLLM, llama.cpp, gantry-serve): one completion per call,
// retried with full-jitter backoff on what another try can fix (dropped connections, timeouts, 408, 429, 5xx), and
// failing at once, naming the URL, the status and the server's message, on what it cannot (other 4xx, a reply
// without a completion).
import { backoffDelayMs } from "../source/retry-policy.js";

export type EndpointApi = "completions" | "chat";

export interface EndpointOptions {
  /** The API base (http://host:8000/v1) or the full route (…/v1/completions, …/v1/chat/completions). */
  url: string;
  api: EndpointApi;
  model?: string;
  /** Sent as a bearer token. Read it from the environment; never put it in a command line. */
  apiKey?: string;
  /** Per request (default 120 s). */
  timeoutMs?: number;
  /** Retries after the first try (default 4). */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Test hooks. */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface CompletionParams {
  maxTokens: number;
  temperature: number;
  seed?: number;
  stop?: readonly string[];
}

export interface Completion {
  text: string;
  finish?: string;
}

/** The endpoint could not give a completion. `retryable` says whether the last failure was of the kind retried. */
export class EndpointError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
    readonly attempts: number,
    readonly status?: number,
    override readonly cause?: unknown,
  ) {
    super(`${url}: ${reason}${attempts > 1 ? ` (after ${attempts} attempts)` : ""}`);
    this.name = "EndpointError";
  }
}

/** The route a base URL or full route names for `api`. */
export function routeFor(url: string, api: EndpointApi): string {
  const trimmed = url.replace(/\/+$/, "");
  if (/\/(chat\/)?completions$/.test(trimmed)) return trimmed;
  return `${trimmed}${api === "chat" ? "/chat/completions" : "/completions"}`;
}

/** The request body for `prompt`: a completion prompt, or one user message. */
export function requestBody(api: EndpointApi, prompt: string, p: CompletionParams, model?: string): Record<string, unknown> {
  return {
    ...(model === undefined ? {} : { model }),
    ...(api === "chat" ? { messages: [{ role: "user", content: prompt }] } : { prompt }),
    max_tokens: p.maxTokens,
    temperature: p.temperature,
    ...(p.seed === undefined ? {} : { seed: p.seed }),
    ...(p.stop === undefined || p.stop.length === 0 ? {} : { stop: [...p.stop] }),
  };
}

/** The first choice's text of a completions or chat reply; undefined when the reply has none. */
export function completionOf(api: EndpointApi, reply: unknown): Completion | undefined {
  const choice = (reply as { choices?: unknown } | null)?.choices;
  const first = Array.isArray(choice) ? (choice[0] as Record<string, unknown> | undefined) : undefined;
  if (first === undefined) return undefined;
  const text = api === "chat" ? (first["message"] as { content?: unknown } | undefined)?.content : first["text"];
  if (typeof text !== "string") return undefined;
  const finish = first["finish_reason"];
  return { text, ...(typeof finish === "string" ? { finish } : {}) };
}

const retryableStatus = (s: number) => s === 408 || s === 429 || s >= 500;

/** A network failure's most specific description: undici wraps the system error (ECONNREFUSED…) in `cause`. */
function describeNetworkError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError") return "timed out";
  const code = e.cause?.code;
  return code === undefined ? `request failed: ${e.cause?.message ?? e.message ?? String(err)}` : `unreachable (${code}${e.cause?.message ? `: ${e.cause.message}` : ""})`;
}

async function serverMessage(res: Response): Promise<string> {
  const body = await res.text().catch(() => "");
  try {
    const msg = (JSON.parse(body) as { error?: { message?: unknown } | string }).error;
    if (typeof msg === "string") return msg;
    if (typeof msg?.message === "string") return msg.message;
  } catch {
    // Not JSON: show the start of the body.
  }
  return body.slice(0, 200).trim() || res.statusText;
}

export class OpenAiEndpoint {
  readonly route: string;
  private readonly retries: number;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(readonly options: EndpointOptions) {
    this.route = routeFor(options.url, options.api);
    try {
      const u = new URL(this.route);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`protocol ${u.protocol}`);
    } catch (err) {
      throw new EndpointError(options.url, `not an http(s) URL (${(err as Error).message})`, 0);
    }
    this.retries = options.retries ?? 4;
    this.fetchFn = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = options.random ?? Math.random;
  }

  async complete(prompt: string, params: CompletionParams): Promise<Completion> {
    const body = JSON.stringify(requestBody(this.options.api, prompt, params, this.options.model));
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.options.apiKey !== undefined) headers["authorization"] = `Bearer ${this.options.apiKey}`;
    const policy = { retries: this.retries, baseDelayMs: this.options.baseDelayMs ?? 500, maxDelayMs: this.options.maxDelayMs ?? 20_000, idleTimeoutMs: 0 };
    for (let attempt = 1; ; attempt++) {
      let failure: { reason: string; status?: number; cause?: unknown; retryAfterMs?: number };
      try {
        const res = await this.fetchFn(this.route, { method: "POST", headers, body, signal: AbortSignal.timeout(this.options.timeoutMs ?? 120_000) });
        if (res.ok) {
          const reply: unknown = await res.json().catch((err: unknown) => {
            throw new EndpointError(this.route, `replied ${res.status} with a body that is not JSON (${(err as Error).message})`, attempt, res.status);
          });
          const c = completionOf(this.options.api, reply);
          if (c === undefined) throw new EndpointError(this.route, `replied ${res.status} without choices[0].${this.options.api === "chat" ? "message.content" : "text"}: is this the ${this.options.api} API?`, attempt, res.status);
          return c;
        }
        const message = await serverMessage(res);
        if (!retryableStatus(res.status)) throw new EndpointError(this.route, `HTTP ${res.status}: ${message}`, attempt, res.status);
        const after = Number(res.headers.get("retry-after"));
        failure = { reason: `HTTP ${res.status}: ${message}`, status: res.status, ...(Number.isFinite(after) && after > 0 ? { retryAfterMs: after * 1000 } : {}) };
      } catch (err) {
        if (err instanceof EndpointError) throw err;
        failure = { reason: describeNetworkError(err), cause: err };
      }
      if (attempt > this.retries) throw new EndpointError(this.route, failure.reason, attempt, failure.status, failure.cause);
      const backoff = backoffDelayMs(attempt, policy, this.random());
      await this.sleep(Math.min(policy.maxDelayMs, Math.max(backoff, failure.retryAfterMs ?? 0)));
    }
  }
}
