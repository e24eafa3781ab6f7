// gantry-data distill against a local STUB endpoint (stub-openai-server.ts): the JSONL each mode writes, the order
// kept under concurrency, retries, clear errors for an unreachable or failing endpoint, and prepare ingesting it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { runDistill } from "../../src/cli/distill-command.js";
import { gantryData } from "../../src/cli/dispatch.js";
import { runPrepare } from "../../src/cli/prepare-command.js";
import { EndpointError, OpenAiEndpoint, routeFor } from "../../src/distill/openai-endpoint.js";
import { StubOpenAiServer } from "./stub-openai-server.js";

const dir = mkdtempSync(join(tmpdir(), "gantry-distill-"));
const file = (name: string, text?: string) => {
  const p = join(dir, name);
  if (text !== undefined) writeFileSync(p, text);
  return p;
};
const prompts = file("prompts.jsonl", '{"id":"a","prompt":"the cat sat"}\n{"id":"b","prompt":"a dog ran far"}\n{"prompt":"birds fly"}\n');
const lines = (p: string) => readFileSync(p, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
const quiet = () => undefined;

let stub: StubOpenAiServer | undefined;
afterEach(async () => {
  await stub?.stop();
  stub = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startStub(b: ConstructorParameters<typeof StubOpenAiServer>[0] = {}): Promise<string> {
  stub = new StubOpenAiServer(b);
  return stub.start();
}

describe("gantry-data distill", () => {
  it("plain: one record per prompt, prompt + completion as text, in prompt order", async () => {
    const url = await startStub({ delayFor: (p) => (p.startsWith("the") ? 60 : 0) });
    const out = file("plain.jsonl");
    expect(await runDistill(["--endpoint", url, "--prompts", prompts, "--output", out, "--model", "teacher", "--seed", "5", "--concurrency", "3"], {}, quiet)).toBe(0);
    expect(lines(out)).toEqual([
      { text: "the cat sat stub answer to the cat sat", id: "a", mode: "plain", prompt: "the cat sat", completion: " stub answer to the cat sat", finish: "stop" },
      { text: "a dog ran far stub answer to a dog ran far", id: "b", mode: "plain", prompt: "a dog ran far", completion: " stub answer to a dog ran far", finish: "stop" },
      { text: "birds fly stub answer to birds fly", id: "3", mode: "plain", prompt: "birds fly", completion: " stub answer to birds fly", finish: "stop" },
    ]);
    // What the endpoint was asked: the model, sampling, and seed + prompt index.
    const asked = [...(stub?.requests ?? [])].sort((x, y) => Number(x.body["seed"]) - Number(y.body["seed"]));
    expect(asked.map((r) => r.path)).toEqual(["/v1/completions", "/v1/completions", "/v1/completions"]);
    expect(asked.map((r) => r.body["seed"])).toEqual([5, 6, 7]);
    expect(asked[0]?.body).toMatchObject({ model: "teacher", prompt: "the cat sat", max_tokens: 256, temperature: 0 });
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it("cot over the chat API: the reasoning steps are kept in the target, the answer split out", async () => {
    const url = await startStub();
    const out = file("cot.jsonl");
    expect(await runDistill(["--endpoint", url, "--api", "chat", "--prompts", prompts, "--output", out, "--mode", "cot"], { OPENAI_API_KEY: "sk-test" }, quiet)).toBe(0);
    const [first] = lines(out);
    expect(first).toEqual({
      text: 'Q: the cat sat\nA: Let\'s think step by step. First, read "the cat sat".\nThen, count its words.\nAnswer: 9',
      id: "a",
      mode: "cot",
      prompt: "the cat sat",
      completion: ' First, read "the cat sat".\nThen, count its words.\nAnswer: 9',
      finish: "stop",
      reasoning: 'First, read "the cat sat".\nThen, count its words.',
      answer: "9",
    });
    const req = stub?.requests[0];
    expect(req?.path).toBe("/v1/chat/completions");
    expect(req?.body["messages"]).toEqual([{ role: "user", content: "Q: the cat sat\nA: Let's think step by step." }]);
    expect(req?.body["stop"]).toEqual(["\nQ:"]);
    expect(req?.authorization).toBe("Bearer sk-test");
  });

  it("icl: task plus k examples are sent; the target is the zero-shot form", async () => {
    const url = await startStub();
    const examples = file("examples.jsonl", '{"input":"x y","output":"X Y"}\n{"input":"p","output":"P"}\n{"input":"unused","output":"UNUSED"}\n');
    const out = file("icl.jsonl");
    expect(await runDistill(["--endpoint", `${url}/completions`, "--prompts", prompts, "--output", out, "--mode", "icl", "--task", "Upper-case the input.", "--examples", examples, "--shots", "2"], {}, quiet)).toBe(0);
    expect(lines(out).map((r) => [r["text"], r["shots"]])).toEqual([
      ["Upper-case the input.\n\nInput: the cat sat\nOutput: THE CAT SAT", 2],
      ["Upper-case the input.\n\nInput: a dog ran far\nOutput: A DOG RAN FAR", 2],
      ["Upper-case the input.\n\nInput: birds fly\nOutput: BIRDS FLY", 2],
    ]);
    expect(stub?.requests[0]?.body["prompt"]).toBe("Upper-case the input.\n\nInput: x y\nOutput: X Y\n\nInput: p\nOutput: P\n\nInput: the cat sat\nOutput:");
  });

  it("writes what gantry-data prepare ingests: one document per record", async () => {
    const url = await startStub();
    const out = file("for-prepare.jsonl");
    await runDistill(["--endpoint", url, "--prompts", prompts, "--output", out], {}, quiet);
    const shards = pathToFileURL(join(dir, "shards")).href;
    // prepare reports on stdout; keep the test output clean.
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      expect(await runPrepare(["--output", shards, "--threads", "0", "--tokenizer", "bytes", out])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const manifest = JSON.parse(readFileSync(join(dir, "shards", "index.json"), "utf8")) as { shards: { documents: number; tokens: number }[] };
    // The bytes tokenizer makes one token per byte of each record's text.
    const expectedBytes = lines(out).reduce((n, r) => n + Buffer.byteLength(String(r["text"])), 0);
    expect(manifest.shards.reduce((n, s) => n + s.documents, 0)).toBe(3);
    expect(manifest.shards.reduce((n, s) => n + s.tokens, 0)).toBe(expectedBytes);
  });

  it("an unreachable endpoint fails naming the prompt, the URL and the cause, and leaves no output", async () => {
    const port = await new Promise<number>((done) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => done(p));
      });
    });
    const out = file("unreachable.jsonl");
    const err = await runDistill(["--endpoint", `http://127.0.0.1:${port}/v1`, "--prompts", prompts, "--output", out, "--retries", "0", "--concurrency", "1"], {}, quiet).catch((e: unknown) => e);
    expect(String(err)).toMatch(new RegExp(`prompt a: http://127\\.0\\.0\\.1:${port}/v1/completions: unreachable \\(ECONNREFUSED`));
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
  });

  it("a failing endpoint: its status and message, no retry for a 400; a 200 without choices is named too", async () => {
    let url = await startStub({ alwaysStatus: 400 });
    const out = file("failing.jsonl");
    const err = await runDistill(["--endpoint", url, "--prompts", prompts, "--output", out, "--concurrency", "1"], {}, quiet).catch((e: unknown) => e);
    expect(String(err)).toContain(`${url}/completions: HTTP 400: stub says no (400)`);
    expect(stub?.requests).toHaveLength(1);
    await stub?.stop();
    url = await startStub({ malformed: true });
    const bad = await runDistill(["--endpoint", url, "--prompts", prompts, "--output", out, "--concurrency", "1"], {}, quiet).catch((e: unknown) => e);
    expect(String(bad)).toMatch(/replied 200 without choices\[0\]\.text: is this the completions API\?/);
    expect(existsSync(out)).toBe(false);
  });
});

describe("OpenAiEndpoint retries", () => {
  it("retries 503 and 429 with backoff, then succeeds; gives up after the retries with the last cause", async () => {
    const url = await startStub({ failFirst: [503, 429] });
    const waits: number[] = [];
    const e = new OpenAiEndpoint({ url, api: "completions", retries: 2, baseDelayMs: 100, sleep: async (ms) => void waits.push(ms), random: () => 0.5 });
    expect((await e.complete("hi", { maxTokens: 4, temperature: 0 })).text).toBe(" stub answer to hi");
    expect(waits).toEqual([50, 100]);
    await stub?.stop();

    const down = await startStub({ alwaysStatus: 502 });
    const f = new OpenAiEndpoint({ url: down, api: "completions", retries: 2, sleep: async () => undefined });
    const err = (await f.complete("hi", { maxTokens: 4, temperature: 0 }).catch((x: unknown) => x)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.attempts).toBe(3);
    expect(err.status).toBe(502);
    expect(err.message).toBe(`${down}/completions: HTTP 502: stub says no (502) (after 3 attempts)`);
  });

  it("routes a base URL or a full route, and refuses a URL that is not http(s)", () => {
    expect(routeFor("http://h:1/v1/", "chat")).toBe("http://h:1/v1/chat/completions");
    expect(routeFor("http://h:1/v1/completions", "chat")).toBe("http://h:1/v1/completions");
    expect(() => new OpenAiEndpoint({ url: "ftp://h/v1", api: "completions" })).toThrow(/not an http\(s\) URL/);
  });
});

describe("gantry-data dispatcher", () => {
  it("routes prepare and distill, and prints the right usage", async () => {
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    expect(await gantryData([], io)).toBe(2);
    expect(await gantryData(["--help"], io)).toBe(0);
    expect(await gantryData(["prepare", "--help"], io)).toBe(0);
    expect(out.at(-1)).toMatch(/^usage: gantry-data prepare/);
    expect(await gantryData(["distill", "--prompts", "p"], io)).toBe(2);
    expect(out.at(-1)).toMatch(/^--endpoint is required\n\nusage: gantry-data distill/);
    expect(await gantryData(["prepare", "--output", "file:///tmp/x"], io)).toBe(2);
    expect(out.at(-1)).toMatch(/give at least one input file or folder\n\nusage: gantry-data prepare/);
    expect(await gantryData(["train"], io)).toBe(2);
    expect(out.at(-1)).toMatch(/^unknown command train/);
  });
});
