// Shards in a local folder (file:///path), read with positioned reads.
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { ObjectReadError } from "../errors.js";
import type { ObjectInfo, ObjectStore } from "./object-store.js";

export class FileStore implements ObjectStore {
  readonly uri: string;

  constructor(readonly root: string) {
    this.uri = pathToFileURL(root).href;
  }

  private path(key: string): string {
    return join(this.root, ...key.split("/"));
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const path = this.path(key);
    try {
      const handle = await open(path, "r");
      try {
        const out = new Uint8Array(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await handle.read(out, got, length - got, offset + got);
          if (bytesRead === 0) throw new Error(`file ends after ${offset + got} bytes, wanted ${offset + length}`);
          got += bytesRead;
        }
        return out;
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw new ObjectReadError(path, 1, err);
    }
  }

  readAll(key: string, bytes: number): Promise<Uint8Array> {
    return this.readRange(key, 0, bytes);
  }

  async readIfExists(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (err) {
      if ((err as { code?: unknown }).code === "ENOENT") return undefined;
      throw new ObjectReadError(this.path(key), 1, err);
    }
  }

  async write(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async *list(): AsyncIterable<ObjectInfo> {
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    for (const e of entries) {
      if (!e.isFile()) continue;
      const full = join(e.parentPath, e.name);
      yield { key: relative(this.root, full).split(sep).join("/"), bytes: (await stat(full)).size };
    }
  }
}
