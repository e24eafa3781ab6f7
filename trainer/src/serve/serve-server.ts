// gantry-serve's HTTP shell (node:http): routes OpenAI-style requests to a ServedModel. Non-streaming only; every
// refusal is an OpenAI error body with a 4xx status, and an unexpected failure a 500 that names its cause.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import {
  ApiError,
  ChatCompletionRequest,
  CompletionRequest,
  chatCompletionResponse,
  chatTranscript,
  completionResponse,
  parseRequest,
  type Generated,
} from "./openai-protocol.js";
import type { CompletionOptions, ServedModel } from "./served-model.js";

export interface ServeOptions {
  /** Largest request body accepted (default 1 MiB). */
  maxBodyBytes?: number;
  /** Generation requests served at once (default 4); more get a 429 to retry. */
  maxInFlight?: number;
  /** Seconds since the epoch for `created`; tests fix it. */
  now?: () => number;
  onRequest?: (method: string, path: string, status: number, ms: number) => void;
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume(); // drain the rest, so the 413 reaches the client
      throw new ApiError(413, "invalid_request_error", `request body is over ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    throw new ApiError(400, "invalid_request_error", `request body is not JSON: ${(err as Error).message}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length });
  res.end(bytes);
}

/** n choices, the i-th with seed + i, so n > 1 gives different samples and the same request the same ones. */
async function choices(model: ServedModel, prompt: string, r: CompletionRequest | ChatCompletionRequest): Promise<Generated[]> {
  const out: Generated[] = [];
  for (let i = 0; i < r.n; i++) {
    const opts: CompletionOptions = { maxTokens: r.max_tokens, temperature: r.temperature, topK: r.top_k, seed: r.seed + i, ...(r.stop === undefined ? {} : { stop: r.stop }) };
    out.push(await model.complete(prompt, opts));
  }
  return out;
}

export function createServeServer(model: ServedModel, options: ServeOptions = {}): Server {
  const limit = options.maxBodyBytes ?? 1 << 20;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const maxInFlight = options.maxInFlight ?? 4;
  let inFlight = 0;
  const route = async (req: IncomingMessage): Promise<{ status: number; body: unknown }> => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (req.method === "GET" && (path === "/v1/models" || path === "/health")) {
      return path === "/health" ? { status: 200, body: { status: "ok" } } : { status: 200, body: { object: "list", data: [{ id: model.id, object: "model", created: 0, owned_by: "gantry" }] } };
    }
    if (path !== "/v1/completions" && path !== "/v1/chat/completions") throw new ApiError(404, "not_found_error", `no route ${req.method ?? "?"} ${path}; use POST /v1/completions or /v1/chat/completions`);
    if (req.method !== "POST") throw new ApiError(405, "invalid_request_error", `${path} takes POST, not ${req.method ?? "?"}`);
    if (inFlight >= maxInFlight) {
      req.resume();
      throw new ApiError(429, "rate_limit_error", `${inFlight} requests are being served (at most ${maxInFlight}); retry later`);
    }
    inFlight++;
    try {
      const body = await readJson(req, limit);
      const id = `gantry-${randomUUID()}`;
      if (path === "/v1/completions") {
        const r = parseRequest(CompletionRequest, body);
        const prompt = Array.isArray(r.prompt) ? (r.prompt[0] as string) : r.prompt;
        return { status: 200, body: completionResponse(id, model.id, now(), await choices(model, prompt, r)) };
      }
      const r = parseRequest(ChatCompletionRequest, body);
      return { status: 200, body: chatCompletionResponse(id, model.id, now(), await choices(model, chatTranscript(r.messages), r)) };
    } finally {
      inFlight--;
    }
  };
  return createServer((req, res) => {
    const began = performance.now();
    route(req).then(
      ({ status, body }) => {
        send(res, status, body);
        options.onRequest?.(req.method ?? "?", req.url ?? "/", status, performance.now() - began);
      },
      (err: unknown) => {
        const api = err instanceof ApiError ? err : new ApiError(500, "server_error", `generation failed: ${err instanceof Error ? err.message : String(err)}`);
        send(res, api.status, api.body());
        options.onRequest?.(req.method ?? "?", req.url ?? "/", api.status, performance.now() - began);
      },
    );
  });
}
