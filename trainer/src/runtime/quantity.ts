// Kubernetes resource quantities as bytes ("256Mi", "1G", "1048576"), for byte budgets in the spec.
import { ConfigError } from "./run-config.js";

const UNITS: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

export function bytesOf(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(|k|M|G|T|Ki|Mi|Gi|Ti)$/.exec(quantity.trim());
  const unit = m === null ? undefined : UNITS[m[2] ?? ""];
  if (m === null || unit === undefined) throw new ConfigError(`"${quantity}" is not a byte quantity such as 256Mi`);
  return Math.floor(Number(m[1]) * unit);
}
