// The dataset manifest, index.json: every shard with its sizes, counts and checksums. Readers list shards from it, never from S3.
import { TOKENIZER_NAMES } from "@gantry/crds";
import { z } from "zod";
import { InvalidManifestError } from "../errors.js";
import { TOKEN_DTYPES } from "../megatron/dtype.js";

export const MANIFEST_FILE = "index.json";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: "must be a lowercase hex sha256" });
const Count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const ShardFile = z.strictObject({
  /** Path relative to the dataset root (the folder or S3 prefix holding index.json). */
  path: z.string().min(1).max(1024).refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), { message: "must be a relative path inside the dataset" }),
  bytes: Count,
  sha256: Sha256,
});

export const ShardEntry = z.strictObject({
  name: z.string().min(1).max(256),
  bin: ShardFile,
  idx: ShardFile,
  sequences: Count,
  documents: Count,
  tokens: Count,
});

export const Manifest = z
  .strictObject({
    format: z.literal("megatron-indexed"),
    version: z.literal(1),
    tokenizer: z.enum(TOKENIZER_NAMES),
    dtype: z.enum(TOKEN_DTYPES as [(typeof TOKEN_DTYPES)[number], ...(typeof TOKEN_DTYPES)[number][]]),
    /** Token the packer puts after each document. */
    eosToken: z.int().min(0),
    shards: z.array(ShardEntry),
  })
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    for (const [i, s] of m.shards.entries()) {
      if (seen.has(s.name)) ctx.addIssue({ code: "custom", path: ["shards", i, "name"], message: `duplicate shard name ${s.name}` });
      seen.add(s.name);
    }
  });

export type ShardFile = z.output<typeof ShardFile>;
export type ShardEntry = z.output<typeof ShardEntry>;
export type Manifest = z.output<typeof Manifest>;

/** Parses index.json text; `location` names it in errors. */
export function parseManifest(location: string, text: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidManifestError(location, `not JSON: ${(err as Error).message}`);
  }
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new InvalidManifestError(location, first.join("; "));
  }
  return parsed.data;
}
