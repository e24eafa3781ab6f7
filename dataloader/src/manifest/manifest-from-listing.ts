// The fallback for a dataset without index.json: list the store (paged), pair each .idx with its .bin, and read both to
// get counts and checksums. Slow on a big dataset (it reads every byte), which is why readers use the manifest.
import type { TokenizerName } from "@gantry/crds";
import { sha256HexAsync } from "../checksum.js";
import { CorruptShardError, InvalidManifestError } from "../errors.js";
import { IndexedDataset } from "../megatron/indexed-dataset.js";
import type { ObjectStore } from "../source/object-store.js";
import { runPool } from "../source/resumable-read.js";
import type { Manifest, ShardEntry } from "./manifest-schema.js";

export interface ListingOptions {
  tokenizer: TokenizerName;
  eosToken: number;
  /** Shards read at once. */
  concurrency?: number;
}

export async function manifestFromListing(store: ObjectStore, opts: ListingOptions): Promise<Manifest> {
  const sizes = new Map<string, number>();
  for await (const o of store.list()) sizes.set(o.key, o.bytes);
  const names = [...sizes.keys()].filter((k) => k.endsWith(".idx")).map((k) => k.slice(0, -4)).sort();
  if (names.length === 0) throw new InvalidManifestError(`${store.uri}index.json`, "does not exist, and there are no .idx/.bin shards to list");
  const shards: ShardEntry[] = new Array<ShardEntry>(names.length);
  let dtype: Manifest["dtype"] | undefined;
  await runPool(
    names.map((name, i) => async () => {
      const binBytes = sizes.get(`${name}.bin`);
      if (binBytes === undefined) throw new CorruptShardError(name, `${name}.idx has no ${name}.bin beside it`);
      const idxBytes = sizes.get(`${name}.idx`) ?? 0;
      const [idx, bin] = await Promise.all([store.readAll(`${name}.idx`, idxBytes), store.readAll(`${name}.bin`, binBytes)]);
      const ds = IndexedDataset.open(name, idx, bin);
      if (dtype !== undefined && ds.dtype !== dtype) throw new CorruptShardError(name, `has dtype ${ds.dtype}, other shards ${dtype}`);
      dtype = ds.dtype;
      shards[i] = {
        name,
        bin: { path: `${name}.bin`, bytes: bin.length, sha256: await sha256HexAsync(bin) },
        idx: { path: `${name}.idx`, bytes: idx.length, sha256: await sha256HexAsync(idx) },
        sequences: ds.sequences,
        documents: ds.documents,
        tokens: ds.tokens,
      };
    }),
    opts.concurrency ?? 4,
  );
  if (dtype === undefined) throw new InvalidManifestError(`${store.uri}index.json`, "no shard could be read");
  return { format: "megatron-indexed", version: 1, tokenizer: opts.tokenizer, dtype, eosToken: opts.eosToken, shards };
}
