// The loss curve as a standalone SVG, written next to the checkpoints: no plotting library, opens in any browser.

export interface LossPoint {
  step: number;
  loss: number;
}

const W = 640;
const H = 360;
const PAD = { left: 56, right: 16, top: 28, bottom: 40 };

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** An SVG line chart of training (and, if given, validation) loss against step. */
export function lossCurveSvg(title: string, train: readonly LossPoint[], validation: readonly LossPoint[] = []): string {
  const all = [...train, ...validation].filter((p) => Number.isFinite(p.loss));
  const x0 = Math.min(...all.map((p) => p.step), 0);
  const x1 = Math.max(...all.map((p) => p.step), x0 + 1);
  let y0 = Math.min(...all.map((p) => p.loss));
  let y1 = Math.max(...all.map((p) => p.loss));
  if (!Number.isFinite(y0)) [y0, y1] = [0, 1];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (s: number) => PAD.left + ((s - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (l: number) => H - PAD.bottom - ((l - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const path = (pts: readonly LossPoint[]) =>
    pts
      .filter((p) => Number.isFinite(p.loss))
      .map((p, i) => `${i === 0 ? "M" : "L"}${sx(p.step).toFixed(1)},${sy(p.loss).toFixed(1)}`)
      .join(" ");
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const yTicks = ticks.map((t) => y0 + t * (y1 - y0));
  const xTicks = ticks.map((t) => Math.round(x0 + t * (x1 - x0)));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    ...yTicks.map((v) => `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}" stroke="#eee"/><text x="${PAD.left - 6}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`),
    ...xTicks.map((v) => `<text x="${sx(v).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${v}</text>`),
    `<text x="${W / 2}" y="${H - 6}" text-anchor="middle">step</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">loss</text>`,
    `<path d="${path(train)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`,
    validation.length > 0 ? `<path d="${path(validation)}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3"/>` : "",
    `<text x="${W - PAD.right}" y="${PAD.top}" text-anchor="end" fill="#1f77b4">train</text>`,
    validation.length > 0 ? `<text x="${W - PAD.right}" y="${PAD.top + 14}" text-anchor="end" fill="#d62728">validation</text>` : "",
    `</svg>`,
    "",
  ].join("\n");
}
