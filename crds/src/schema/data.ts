import { z } from "zod";
import { TOKENIZER_NAMES } from "./presets.js";
import { SECRET_KEY, dnsLabel, dnsSubdomain, endpoint, quantity, secretKey, storageUri } from "./primitives.js";

export const DataFormat = z
  .enum(["jsonl", "text", "tokens"])
  .describe("jsonl: one JSON object per line with a text field. text: plain .txt files. tokens: pre-tokenized token shards.");

export const S3Credentials = z
  .strictObject({
    name: dnsSubdomain("Name of a Secret in the job's namespace holding S3 credentials."),
    accessKeyIdKey: secretKey("Secret key holding the access key id.", "AWS_ACCESS_KEY_ID"),
    secretAccessKeyKey: secretKey("Secret key holding the secret access key.", "AWS_SECRET_ACCESS_KEY"),
    sessionTokenKey: z
      .string()
      .min(1)
      .max(253)
      .regex(SECRET_KEY, { message: "must be a Secret data key" })
      .optional()
      .describe("Secret key holding a session token, for temporary credentials."),
  })
  .describe("A reference to S3 credentials in a Secret. Credentials are never written inline.");

export const S3 = z
  .strictObject({
    endpoint: endpoint("S3-compatible endpoint, for example http://minio.storage:9000. Defaults to the operator's configured endpoint.").optional(),
    region: z.string().min(1).max(64).default("us-east-1").describe("S3 region."),
    credentialsSecret: S3Credentials.optional(),
    forcePathStyle: z.boolean().default(true).describe("Address buckets by path (needed by MinIO and most self-hosted servers)."),
  })
  .describe("How to reach S3 for s3:// sources.");

export const Stream = z
  .strictObject({
    name: dnsLabel("Name of the stream, unique within the job; it keys the stream's offsets."),
    source: storageUri("Where the stream's shards live: s3://bucket/prefix or file:///path."),
    weight: z.number().gt(0).max(1_000_000).default(1).describe("Relative sampling weight when mixing streams."),
    format: DataFormat.optional().describe("Format of this stream. Defaults to data.format."),
  })
  .describe("One weighted stream of a data mixture.");

export const Validation = z
  .strictObject({
    fraction: z.number().gt(0).max(0.5).optional().describe("Hold out this fraction of the training data's samples for validation."),
    source: storageUri("A separate validation dataset.").optional(),
    everySteps: z.int().min(1).default(500).describe("Evaluate every N optimizer steps."),
    batches: z.int().min(1).max(10_000).default(20).describe("Micro-batches per evaluation."),
  })
  .describe("A validation split: a held-out fraction of the data, or a separate source.");

export const Data = z
  .strictObject({
    source: storageUri("Training data: s3://bucket/prefix or file:///path. Give this or streams.").optional(),
    streams: z.array(Stream).min(1).max(32).optional().describe("Several weighted streams to mix. Give this or source."),
    format: DataFormat.default("jsonl"),
    textField: z.string().min(1).max(128).default("text").describe("Field of each JSONL record that holds the text."),
    tokenizer: z.enum(TOKENIZER_NAMES).default("gpt2").describe("Tokenizer: gpt2 (r50k_base), cl100k_base, or bytes."),
    s3: S3.prefault({}),
    shuffle: z.boolean().default(true).describe("Shuffle the global sample order each epoch."),
    shuffleSeed: z.int().min(0).max(4_294_967_295).default(0).describe("Seed of the global sample order; with the manifest and epoch it fixes the order exactly."),
    prefetchBytes: quantity("Memory budget for prefetched shard bytes per rank.").default("256Mi"),
    validation: Validation.optional(),
  })
  .describe("Where the training data comes from and how it is read.");

export type Data = z.output<typeof Data>;
