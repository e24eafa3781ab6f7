// Byte budgets in the spec (data.prefetchBytes) and on command lines are Kubernetes quantities: "256Mi", "1G",
// "1048576". One parser, so the trainer and `gantry-data prepare` read them alike.

const UNITS: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** Whole bytes of a quantity such as 64Mi or 100M, or undefined when it is not a byte quantity. */
export function byteQuantity(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(|k|M|G|T|Ki|Mi|Gi|Ti)$/.exec(text.trim());
  const unit = m === null ? undefined : UNITS[m[2] ?? ""];
  return m === null || unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}
