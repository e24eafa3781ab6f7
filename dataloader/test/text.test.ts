import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileStore, InvalidRecordError, TokenDataLoader, prepareDataset, readManifest, recordText, tokenizerFor } from "@gantry/dataloader";
import { parseBytes, parsePrepareArgs } from "../src/cli/prepare-args.js";

const dir = mkdtempSync(join(tmpdir(), "dl-text-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("tokenizers", () => {
  it("encode with the published vocabularies", () => {
    expect(tokenizerFor("gpt2").encode("hello world")).toEqual([31373, 995]);
    expect(tokenizerFor("cl100k_base").encode("hello world")).toEqual([15339, 1917]);
    expect(tokenizerFor("bytes").encode("hé")).toEqual([104, 195, 169]);
    expect(tokenizerFor("gpt2")).toMatchObject({ eosToken: 50256, vocabSize: 50257, dtype: "uint16" });
    expect(tokenizerFor("cl100k_base")).toMatchObject({ eosToken: 100257, dtype: "int32" });
    expect(tokenizerFor("bytes")).toMatchObject({ eosToken: 0, dtype: "uint8" });
  });

  it("treat special-token text in the corpus as plain text", () => {
    expect(tokenizerFor("gpt2").encode("<|endoftext|>")).not.toContain(50256);
    expect(tokenizerFor("cl100k_base").encode("<|endoftext|>")).not.toContain(100257);
  });
});

describe("JSONL records", () => {
  it("take the text field and name the file and line of a bad record", () => {
    expect(recordText("a.jsonl", 1, '{"text":"hi","id":3}', "text")).toBe("hi");
    expect(recordText("a.jsonl", 2, "   ", "text")).toBeUndefined();
    expect(() => recordText("a.jsonl", 7, "{", "text")).toThrow(InvalidRecordError);
    expect(() => recordText("a.jsonl", 7, "{", "text")).toThrow(/^a\.jsonl:7: not JSON/);
    expect(() => recordText("a.jsonl", 8, '{"body":"x"}', "text")).toThrow('a.jsonl:8: field "text" is missing');
    expect(() => recordText("a.jsonl", 9, '{"text":5}', "text")).toThrow('a.jsonl:9: field "text" is a number, not a string');
    expect(() => recordText("a.jsonl", 10, "[1]", "text")).toThrow("a.jsonl:10: not a JSON object");
  });
});

describe("prepare", () => {
  const texts = Array.from({ length: 200 }, (_, i) => `Document ${i}: ${"the quick brown fox jumps over the lazy dog ".repeat(1 + (i % 5))}`);

  it("tokenizes JSONL into shards whose packed stream is the documents joined by EOS", async () => {
    const file = join(dir, "a.jsonl");
    writeFileSync(file, `${texts.map((t) => JSON.stringify({ text: t })).join("\n")}\n`);
    const out = new FileStore(join(dir, "out"));
    const tok = tokenizerFor("gpt2");
    const manifest = await prepareDataset(out, { files: [file], format: "jsonl", textField: "text", tokenizer: tok, shardBytes: 4096 });
    expect(manifest.shards.length).toBeGreaterThan(2);
    expect(manifest.shards.reduce((a, s) => a + s.documents, 0)).toBe(200);
    const stream = texts.flatMap((t) => [...tok.encode(t), 50256]);
    expect(manifest.shards.reduce((a, s) => a + s.tokens + s.documents, 0)).toBe(stream.length);
    const loader = new TokenDataLoader(out, manifest, { jobUid: "j", attempt: 0, contextLength: 64, globalBatch: 1, rank: 0, worldSize: 1, seed: 0, shuffle: false, windowShards: 1, cacheBytes: 1 << 20, prefetchSteps: 0 });
    const first = await loader.batch(0);
    expect(Array.from(first.samples[0]?.tokens ?? [])).toEqual(stream.slice(0, 65));
    expect(await readManifest(out)).toEqual(manifest);
  });

  it("runs as `gantry-data prepare` from the command line", () => {
    const input = join(dir, "texts");
    const files = ["b.txt", "a.txt"];
    mkdirSync(input);
    files.forEach((f, i) => writeFileSync(join(input, f), texts[i] ?? ""));
    const outDir = join(dir, "cli-out");
    const cli = join(import.meta.dirname, "..", "src", "cli", "prepare.ts");
    const r = spawnSync("npx", ["tsx", cli, "prepare", "--output", `file://${outDir}`, "--format", "text", "--tokenizer", "bytes", "--shard-size", "1Ki", input], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/wrote \d+ shard\(s\), 2 documents, \d+ tokens/);
    const manifest = JSON.parse(readFileSync(join(outDir, "index.json"), "utf8")) as { tokenizer: string; shards: { tokens: number }[] };
    expect(manifest.tokenizer).toBe("bytes");
    // Folders are read in name order: a.txt (texts[1]) first.
    expect(manifest.shards.reduce((a, s) => a + s.tokens, 0)).toBe(Buffer.byteLength(`${texts[0]}${texts[1]}`));
    const bad = spawnSync("npx", ["tsx", cli, "prepare", input], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--output is required");
  });
});

describe("prepare arguments", () => {
  it("parses options and sizes", () => {
    expect(parsePrepareArgs(["--output", "s3://b/p", "--tokenizer", "cl100k_base", "--shard-size", "100M", "x.jsonl"])).toEqual({
      output: "s3://b/p",
      inputs: ["x.jsonl"],
      format: "jsonl",
      textField: "text",
      tokenizer: "cl100k_base",
      shardBytes: 100_000_000,
      threads: 2,
      restart: false,
    });
    expect(parsePrepareArgs(["--output", "x", "--threads", "0", "--restart", "f"])).toMatchObject({ threads: 0, restart: true });
    expect(() => parsePrepareArgs(["--output", "x", "--threads", "two", "f"])).toThrow(/--threads must be an integer/);
    expect(parseBytes("64Mi")).toBe(67_108_864);
    expect(() => parseBytes("64MB")).toThrow(/not a size/);
    expect(() => parsePrepareArgs(["--output", "x", "--tokenizer", "llama", "f"])).toThrow(/--tokenizer must be one of gpt2, cl100k_base, bytes/);
    expect(() => parsePrepareArgs(["--output", "x", "--format", "csv", "f"])).toThrow(/--format must be jsonl or text/);
  });
});
