// Output shared by every benchmark: a readable table, then one JSON line with the figures and a `meets` object.
export interface Row {
  [column: string]: string | number;
}

export function printTable(title: string, rows: Row[]): void {
  const first = rows[0];
  if (first === undefined) return;
  const cols = Object.keys(first);
  const text = (v: string | number | undefined) => (typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : (v ?? ""));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i] ?? 0)).join("  ");
  console.log(`\n${title}\n`);
  console.log(line(cols));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => text(r[c]))));
  console.log("");
}

export function printResult(result: Record<string, unknown> & { meets: Record<string, boolean> }): void {
  console.log(JSON.stringify(result));
}
