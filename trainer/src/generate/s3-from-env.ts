// An S3 client for the s3:// URIs a CLI was given, configured from the environment exactly as gantry-train's
// (S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …); undefined when no URI is on S3.
import type { Client } from "minio";
import { needsS3, s3ClientFor } from "../run/storage.js";
import { fromManifest } from "../runtime/run-config.js";

export function s3ClientFromEnv(uris: readonly string[], tool: string): Client | undefined {
  const s3Uris = uris.filter((u) => u.startsWith("s3://"));
  if (!needsS3(...s3Uris)) return undefined;
  // A minimal local run config: only its S3 settings are used.
  const cfg = fromManifest(`spec: {data: {source: "file:///unused"}, training: {steps: 1}}`, tool, { env: process.env });
  return s3ClientFor(cfg.s3, s3Uris);
}
