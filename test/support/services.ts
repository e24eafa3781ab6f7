// Clients for the local Redis and S3 server, configured from the cluster's env file.
import { Redis } from "ioredis";
import { Client as MinioClient } from "minio";
import type { ClusterEnv } from "./cluster-env.js";

export function redisClient(env: ClusterEnv): Redis {
  return new Redis(env.REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: true });
}

export function s3Client(env: ClusterEnv): MinioClient {
  const url = new URL(env.S3_ENDPOINT);
  return new MinioClient({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: url.protocol === "https:",
    accessKey: env.S3_ACCESS_KEY,
    secretKey: env.S3_SECRET_KEY,
    region: env.S3_REGION,
    pathStyle: true,
  });
}

/** The whole of an object, or undefined when it is missing or unreadable. */
export async function readS3Object(s3: MinioClient, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const chunks: Buffer[] = [];
    for await (const c of await s3.getObject(bucket, key)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } catch {
    return undefined;
  }
}
