// What a failed Kubernetes API call says: its HTTP status and the Status message, whichever of client-node's error
// shapes carried them.
export function statusCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  for (const v of [e.code, e.statusCode, e.response?.statusCode]) if (typeof v === "number") return v;
  return undefined;
}

/** One short line: "<code> <Status message>", not client-node's dump of headers and body. */
export function apiErrorText(err: unknown): string {
  const code = statusCode(err);
  const body = typeof err === "object" && err !== null && "body" in err ? (err as { body: unknown }).body : undefined;
  let message: string | undefined;
  if (typeof body === "string") {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
    } catch {
      message = body.slice(0, 300);
    }
  }
  message ??= err instanceof Error ? err.message.split("\n")[0] : String(err);
  return code === undefined ? (message ?? "") : `${code} ${message}`;
}
