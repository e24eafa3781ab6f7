// gantry-serve over a real socket: OpenAI-shaped responses whose text is the sampler's, deterministic per seed, and
// OpenAI error bodies for every refusal.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { FileCheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { loadCheckpointModel } from "../../src/model-source/checkpoint-model.js";
import { decodeTokens } from "../../src/generate/decode.js";
import { sample } from "../../src/generate/sample.js";
import { structureWeights } from "../../src/model/gpt-weights.js";
import { initParams } from "../../src/model/init-params.js";
import { importParams } from "../../src/model/param-io.js";
import { chatTranscript, cutAtStop } from "../../src/serve/openai-protocol.js";
import { servedModel, type ServedModel } from "../../src/serve/served-model.js";
import { createServeServer } from "../../src/serve/serve-server.js";
import { TINY } from "../model/tiny.js";
import { writeModelCheckpoint } from "../distill/model-checkpoint.js";

const CONFIG = { ...TINY, vocabSize: 256, layers: 1, contextLength: 64 };
const root = mkdtempSync(join(tmpdir(), "gantry-serve-"));
let server: Server;
let model: ServedModel;
let base: string;

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
  await writeModelCheckpoint(new FileCheckpointStore(root), CONFIG, initParams(CONFIG, 5), "bytes");
  const m = await loadCheckpointModel(pathToFileURL(root).href);
  model = servedModel("tiny", m.config, m.tokenizer, m.arrays);
  server = createServeServer(model, { now: () => 1700000000 });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((done) => server.close(done));
  model.dispose();
  rmSync(root, { recursive: true, force: true });
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

type Choice = { text?: string; message?: { role: string; content: string }; finish_reason: string };
const choicesOf = (j: Record<string, unknown>) => j["choices"] as Choice[];

/** What the sampler itself gives for this prompt: the reference the server must match. */
async function direct(prompt: string, maxNewTokens: number, temperature: number, seed: number): Promise<string> {
  const tensors = importParams(CONFIG, initParams(CONFIG, 5));
  const input = Array.from(new TextEncoder().encode(prompt));
  const out = await sample(CONFIG, structureWeights(CONFIG, tensors), input, { maxNewTokens, temperature, topK: 0, seed, stopToken: 0 });
  tf.dispose(tensors);
  return decodeTokens("bytes", out.slice(input.length).filter((t) => t !== 0));
}

describe("POST /v1/completions", () => {
  it("returns the sampler's continuation in OpenAI's shape, with usage", async () => {
    const { status, json } = await post("/v1/completions", { model: "tiny", prompt: "ab", max_tokens: 6, temperature: 0 });
    expect(status).toBe(200);
    expect(json["object"]).toBe("text_completion");
    expect(json["model"]).toBe("tiny");
    expect(json["created"]).toBe(1700000000);
    const [c] = choicesOf(json);
    expect(c?.text).toBe(await direct("ab", 6, 0, 0));
    const usage = json["usage"] as { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    expect(usage.prompt_tokens).toBe(2);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    expect(usage.completion_tokens).toBeLessThanOrEqual(6);
  });

  it("is deterministic per seed; n choices use seed, seed + 1, ...", async () => {
    const req = { prompt: "x", max_tokens: 8, temperature: 1, seed: 3, n: 2 };
    const a = choicesOf((await post("/v1/completions", req)).json);
    const b = choicesOf((await post("/v1/completions", req)).json);
    expect(a.map((c) => c.text)).toEqual(b.map((c) => c.text));
    expect(a[0]?.text).toBe(await direct("x", 8, 1, 3));
    expect(a[1]?.text).toBe(await direct("x", 8, 1, 4));
  });
});

describe("POST /v1/chat/completions", () => {
  it("continues the role-prefixed transcript and answers as the assistant", async () => {
    const messages = [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }] as const;
    const { status, json } = await post("/v1/chat/completions", { messages, max_tokens: 4, temperature: 0 });
    expect(status).toBe(200);
    expect(json["object"]).toBe("chat.completion");
    const [c] = choicesOf(json);
    expect(c?.message?.role).toBe("assistant");
    expect(c?.message?.content).toBe(await direct(chatTranscript([...messages]), 4, 0, 0));
    expect(chatTranscript([...messages])).toBe("system: be brief\nuser: hi\nassistant:");
  });
});

describe("errors", () => {
  it("answers each refusal with a status and an OpenAI error body", async () => {
    const bad = await post("/v1/completions", "{not json");
    expect(bad.status).toBe(400);
    expect((bad.json["error"] as { message: string }).message).toMatch(/not JSON/);
    const range = await post("/v1/completions", { prompt: "a", max_tokens: -1 });
    expect(range.status).toBe(400);
    expect((range.json["error"] as { param: string }).param).toBe("max_tokens");
    expect((await post("/v1/completions", { prompt: "a", stream: true })).status).toBe(400);
    expect((await post("/v1/chat/completions", { messages: [] })).status).toBe(400);
    expect((await post("/v1/embeddings", {})).status).toBe(404);
    expect((await fetch(`${base}/v1/completions`)).status).toBe(405);
    const models = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["tiny"]);
  });

  it("refuses a prompt whose tokens the model's vocabulary does not hold", async () => {
    const small = servedModel("small", { ...CONFIG, vocabSize: 64 }, "bytes", initParams({ ...CONFIG, vocabSize: 64 }, 1));
    await expect(small.complete("z", { maxTokens: 1, temperature: 0, topK: 0, seed: 0 })).rejects.toThrow(/token 122, outside this model's vocabulary of 64/);
    small.dispose();
  });
});

describe("limits", () => {
  it("refuses a prompt plus max_tokens beyond the context, drains a body over the limit, and answers 429 beyond maxInFlight", async () => {
    const C = CONFIG.contextLength;
    const long = await post("/v1/completions", { prompt: "abcdefghij", max_tokens: C - 9 });
    expect(long.status).toBe(400);
    expect((long.json["error"] as { message: string }).message).toMatch(new RegExp(`10 tokens plus max_tokens ${C - 9} exceed this model's context of ${C} tokens`));
    expect((long.json["error"] as { param: string }).param).toBe("max_tokens");
    expect((await post("/v1/completions", { prompt: "abcdefghij", max_tokens: C - 10 })).status).toBe(200);

    // One generation at a time and a 64-byte body limit; the first request is held inside the model until released.
    let release = (): void => undefined;
    let entered = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const inside = new Promise<void>((r) => (entered = r));
    const gated: ServedModel = { ...model, complete: async (p, o) => (entered(), await held, model.complete(p, o)) };
    const strict = createServeServer(gated, { maxInFlight: 1, maxBodyBytes: 64 });
    await new Promise<void>((done) => strict.listen(0, "127.0.0.1", done));
    const url = `http://127.0.0.1:${(strict.address() as AddressInfo).port}/v1/completions`;
    const ask = (body: string) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body }).then(async (r) => ({ status: r.status, json: (await r.json()) as { error?: { type: string } } }));
    expect((await ask(JSON.stringify({ prompt: "x".repeat(200) }))).status).toBe(413);
    const first = ask(JSON.stringify({ prompt: "a", max_tokens: 8 }));
    await inside;
    const second = await ask(JSON.stringify({ prompt: "b", max_tokens: 8 }));
    expect(second.status).toBe(429);
    expect(second.json.error?.type).toBe("rate_limit_error");
    release();
    expect((await first).status).toBe(200);
    expect((await ask(JSON.stringify({ prompt: "c", max_tokens: 2 }))).status).toBe(200);
    await new Promise((done) => strict.close(done));
  });
});

describe("cutAtStop", () => {
  it("cuts at the earliest of the stop sequences", () => {
    expect(cutAtStop("a. b\n c", ["\n", "."])).toEqual({ text: "a", stopped: true });
    expect(cutAtStop("abc", "x")).toEqual({ text: "abc", stopped: false });
    expect(cutAtStop("abc", undefined)).toEqual({ text: "abc", stopped: false });
  });
});
