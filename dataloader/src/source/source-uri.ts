// Parses a data source URI: s3://bucket/prefix or file:///path.
import { fileURLToPath } from "node:url";
import { UnsupportedSourceError } from "../errors.js";

export type SourceUri = { kind: "s3"; bucket: string; prefix: string } | { kind: "file"; path: string };

export function parseSourceUri(uri: string): SourceUri {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new UnsupportedSourceError(uri);
  }
  if (url.protocol === "file:") return { kind: "file", path: fileURLToPath(url) };
  if (url.protocol === "s3:" && url.hostname !== "") {
    const prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
    // Keys are joined as prefix + name, so a non-empty prefix always ends with one slash.
    return { kind: "s3", bucket: url.hostname, prefix: prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/` };
  }
  throw new UnsupportedSourceError(uri);
}
