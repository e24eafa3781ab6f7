// The HTTP status of a failed client-node call (ApiException carries it as `code`), if any.
export function statusCode(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof (err as { code: unknown }).code === "number") return (err as { code: number }).code;
  return undefined;
}
