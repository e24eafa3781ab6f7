// gantry-data prepare, interrupted and rerun: the shards already uploaded are kept, tokenizing continues after their
// last document, and the dataset is byte-identical to one prepared without interruption.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileStore, PARTIAL_MANIFEST_FILE, PrepareInputsChangedError, parsePrepareCheckpoint, prepareDataset, readManifest, tokenizerFor, type PrepareOptions } from "@gantry/dataloader";

const root = mkdtempSync(join(tmpdir(), "dl-prepare-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const inputs = join(root, "in");
mkdirSync(inputs);
// Three files of varied documents, including an empty one (skipped, but it still counts as a position).
const files = [0, 1, 2].map((f) => {
  const path = join(inputs, `part-${f}.jsonl`);
  const lines = Array.from({ length: 150 }, (_, i) => JSON.stringify({ text: i === 7 ? "" : `file ${f} doc ${i}: ${"tokens and more tokens, ".repeat(1 + ((i * 7 + f) % 13))}` }));
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
});

const options = (over: Partial<PrepareOptions> = {}): PrepareOptions => ({ files, format: "jsonl", textField: "text", tokenizer: tokenizerFor("gpt2"), shardBytes: 2048, threads: 2, ...over });

/** Every file of a folder, name -> bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(
    readdirSync(dir)
      .sort()
      .map((name) => [name, readFileSync(join(dir, name))]),
  );
}

/** A store that records writes and fails the upload of one shard's .bin, as a crash mid-run would. */
class InterruptingStore extends FileStore {
  readonly written: string[] = [];
  constructor(
    root: string,
    private readonly failOn?: string,
  ) {
    super(root);
  }
  override async write(key: string, bytes: Uint8Array): Promise<void> {
    if (key === this.failOn) throw new Error(`simulated crash while uploading ${key}`);
    this.written.push(key);
    return super.write(key, bytes);
  }
}

describe("resumable prepare", () => {
  it("after an interruption at shard k, a rerun keeps shards < k, tokenizes only the rest, and writes the same bytes", async () => {
    const whole = join(root, "whole");
    const manifest = await prepareDataset(new FileStore(whole), options());
    expect(manifest.shards.length).toBeGreaterThan(12);
    const k = 9;
    const dir = join(root, "interrupted");
    const failing = new InterruptingStore(dir, `shard-0000${k}.bin`);
    await expect(prepareDataset(failing, options({ threads: 0 }))).rejects.toThrow(`simulated crash while uploading shard-0000${k}.bin`);
    // The partial manifest lists the uploaded prefix, and no index.json exists yet.
    const partial = parsePrepareCheckpoint("test", readFileSync(join(dir, PARTIAL_MANIFEST_FILE), "utf8"));
    expect(partial.shards.length).toBe(k);
    expect(partial.shards).toEqual(manifest.shards.slice(0, k));
    expect(snapshot(dir).has("index.json")).toBe(false);

    const rerun = new InterruptingStore(dir);
    let kept = -1;
    const resumed = await prepareDataset(rerun, options({ onResume: (n) => (kept = n) }));
    expect(kept).toBe(k);
    expect(resumed).toEqual(manifest);
    // Nothing before shard k was written again.
    const shardWrites = rerun.written.filter((key) => key.startsWith("shard-")).map((key) => Number(key.slice(6, 11)));
    expect(Math.min(...shardWrites)).toBe(k);
    // Byte-identical to the uninterrupted run, and the partial manifest is gone.
    const a = snapshot(whole);
    const b = snapshot(dir);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, bytes] of a) expect(b.get(name)?.equals(bytes), name).toBe(true);
    expect(await readManifest(new FileStore(dir))).toEqual(manifest);
  });

  it("gives the same shards on 0 and 2 tokenizer threads", async () => {
    const [inline, pooled] = await Promise.all([0, 2].map((threads) => prepareDataset(new FileStore(join(root, `threads-${threads}`)), options({ threads }))));
    expect(pooled).toEqual(inline);
  });

  it("refuses to continue a partial manifest written for other inputs, unless told to restart", async () => {
    const dir = join(root, "changed");
    await expect(prepareDataset(new InterruptingStore(dir, "shard-00003.bin"), options({ threads: 0 }))).rejects.toThrow(/simulated crash/);
    const err = await prepareDataset(new FileStore(dir), options({ shardBytes: 4096, threads: 0 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrepareInputsChangedError);
    expect((err as Error).message).toContain(PARTIAL_MANIFEST_FILE);
    const fresh = await prepareDataset(new FileStore(dir), options({ shardBytes: 4096, restart: true, threads: 0 }));
    const reference = await prepareDataset(new FileStore(join(root, "changed-reference")), options({ shardBytes: 4096, threads: 0 }));
    expect(fresh).toEqual(reference);
  });
});
