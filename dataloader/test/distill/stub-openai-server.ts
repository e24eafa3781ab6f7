// A STUB standing in for an OpenAI-compatible endpoint in tests: node:http on 127.0.0.1, canned answers computed
// from the prompt, every request recorded, and failures on demand. It is not a model and not gantry-serve.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface StubRequest {
  path: string;
  body: Record<string, unknown>;
  authorization?: string;
}

export interface StubBehaviour {
  /** Answer these statuses (in order) before answering normally, e.g. [503, 429]. */
  failFirst?: number[];
  /** Always answer this status with an OpenAI error body. */
  alwaysStatus?: number;
  /** Answer 200 with a body that has no choices. */
  malformed?: boolean;
  /** Delay (ms) of the answer to a prompt, to shuffle arrival order. */
  delayFor?: (prompt: string) => number;
}

/** The stub's canned answer: chain-of-thought prompts get steps and an answer, the rest an echo of the last line. */
export function stubAnswer(prompt: string): string {
  const last = prompt.split("\n").at(-1) ?? "";
  if (prompt.endsWith("Let's think step by step.")) return ` First, read "${prompt.split("\n")[0]?.slice(3) ?? ""}".\nThen, count its words.\nAnswer: ${prompt.split(" ").length}`;
  if (last.startsWith("Output:")) return ` ${(prompt.split("\n").at(-2) ?? "").replace(/^Input: /, "").toUpperCase()}`;
  return ` stub answer to ${last}`;
}

export class StubOpenAiServer {
  readonly requests: StubRequest[] = [];
  private server: Server | undefined;
  private failures: number[];

  constructor(private readonly behaviour: StubBehaviour = {}) {
    this.failures = [...(behaviour.failFirst ?? [])];
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
        this.requests.push({ path: req.url ?? "", body, ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }) });
        const reply = (status: number, json: unknown) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(json));
        };
        const status = this.behaviour.alwaysStatus ?? this.failures.shift();
        if (status !== undefined) return reply(status, { error: { message: `stub says no (${status})`, type: "stub" } });
        if (this.behaviour.malformed) return reply(200, { id: "x", choices: [] });
        const chat = req.url?.endsWith("/chat/completions") ?? false;
        const prompt = chat ? String((body["messages"] as { content: string }[] | undefined)?.at(-1)?.content ?? "") : String(body["prompt"] ?? "");
        const text = stubAnswer(prompt);
        const choice = chat ? { index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" } : { index: 0, text, finish_reason: "stop" };
        setTimeout(() => reply(200, { id: "stub", object: chat ? "chat.completion" : "text_completion", choices: [choice] }), this.behaviour.delayFor?.(prompt) ?? 0);
      });
    });
    await new Promise<void>((done) => this.server?.listen(0, "127.0.0.1", done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    await new Promise((done) => this.server?.close(done));
  }
}
