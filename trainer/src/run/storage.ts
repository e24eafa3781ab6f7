// The S3 client a run needs, made from the run's settings only when some URI is on S3, so a local run needs no
// credentials and an S3 run without them fails at start-up naming what is missing.
import { POD_ENV } from "@gantry/crds";
import { createS3Client } from "@gantry/dataloader";
import type { Client } from "minio";
import { ConfigError, type S3Settings } from "../runtime/run-config.js";

export function needsS3(...uris: (string | undefined)[]): boolean {
  return uris.some((u) => u?.startsWith("s3://") ?? false);
}

const POD_HINT = "credentials come from spec.data.s3.credentialsSecret";

/** `hint` says where the missing settings come from for this caller (a pod, a command line). */
export function s3ClientFor(s3: S3Settings, uris: readonly string[], hint: string = POD_HINT): Client {
  const missing: string[] = [];
  if (s3.endpoint === undefined) missing.push(POD_ENV.s3Endpoint);
  if (s3.accessKey === undefined) missing.push(POD_ENV.s3AccessKeyId);
  if (s3.secretKey === undefined) missing.push(POD_ENV.s3SecretAccessKey);
  if (missing.length > 0 || s3.endpoint === undefined || s3.accessKey === undefined || s3.secretKey === undefined) {
    throw new ConfigError(`${uris.join(", ")} ${uris.length === 1 ? "is" : "are"} on S3, but ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not set (${hint})`);
  }
  return createS3Client({ endpoint: s3.endpoint, region: s3.region, accessKey: s3.accessKey, secretKey: s3.secretKey, pathStyle: s3.pathStyle, ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}) });
}
