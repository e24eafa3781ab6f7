// A minio client for the dataloader, with minio's own retries off so that ours (resuming from the last byte) are the
// only ones, and a translation of the bare errors minio throws for retryable HTTP statuses back into S3 codes.
import { Client } from "minio";

export interface S3Connection {
  /** http(s)://host:port */
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  sessionToken?: string;
  pathStyle: boolean;
}

export function createS3Client(c: S3Connection): Client {
  const url = new URL(c.endpoint);
  const useSSL = url.protocol === "https:";
  return new Client({
    endPoint: url.hostname,
    port: url.port === "" ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: c.accessKey,
    secretKey: c.secretKey,
    ...(c.sessionToken === undefined ? {} : { sessionToken: c.sessionToken }),
    region: c.region,
    pathStyle: c.pathStyle,
    retryOptions: { disableRetry: true },
  });
}

const STATUS_CODES: Record<number, string> = {
  408: "RequestTimeout",
  429: "SlowDown",
  500: "InternalError",
  502: "BadGateway",
  503: "SlowDown",
  504: "GatewayTimeout",
};

/** An HTTP status minio reported without the response's S3 error code. */
export class S3StatusError extends Error {
  readonly code: string;
  constructor(readonly statusCode: number) {
    const code = STATUS_CODES[statusCode] ?? `HTTP${statusCode}`;
    super(`HTTP ${statusCode} from the server`);
    this.code = code;
    this.name = "S3StatusError";
  }
}

/** minio 8 throws `Error("Request failed after N retries: Error: Retryable HTTP status: 503")`, dropping the code. */
export function normalizeS3Error(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const m = /Retryable HTTP status: (\d{3})/.exec(err.message);
  return m?.[1] === undefined ? err : new S3StatusError(Number(m[1]));
}
