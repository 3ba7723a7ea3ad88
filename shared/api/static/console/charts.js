// Small bar charts of an hourly series, drawn as SVG (no library, nothing inline the CSP would
// refuse): each is a figure with a caption and a text summary for screen readers.

import { count, h, svg } from "./dom.js";

const WIDTH = 480;
const HEIGHT = 120;
const PAD = 18;

/**
 * `series`: `[{name, tone, value: bucket => number}]` drawn side by side per hour over
 * `buckets` (`{start}` each, oldest first).
 */
export function hourlyBars(title, buckets, series, unit) {
  const values = buckets.map((b) => series.map((s) => s.value(b) || 0));
  const peak = Math.max(1, ...values.flat());
  const slot = (WIDTH - PAD) / Math.max(1, buckets.length);
  const bar = Math.max(1, (slot - 2) / series.length);
  const bars = [];
  values.forEach((row, i) => row.forEach((value, j) => {
    if (!value) return;
    const height = Math.max(1, (value / peak) * (HEIGHT - PAD));
    bars.push(svg("rect", {
      x: PAD + i * slot + j * bar, y: HEIGHT - PAD - height, width: bar, height,
      class: `bar ${series[j].tone}`,
    }, svg("title", {}, `${series[j].name}, ${hour(buckets[i].start)}: ${count(value)}${unit}`)));
  }));
  const totals = series.map((s, j) => `${s.name}: ${count(values.reduce((sum, row) => sum + row[j], 0))}${unit} in all`);
  const summary = `${title} over the last ${buckets.length} hours. ${totals.join("; ")}; peak ${count(peak)}${unit} an hour.`;
  const first = buckets.length ? hour(buckets[0].start) : "";
  return h("figure", { class: "chart" },
    h("figcaption", {}, title, " ", series.map((s) => h("span", { class: `key ${s.tone}` }, s.name))),
    svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": summary, preserveAspectRatio: "none" },
      svg("line", { x1: PAD, y1: HEIGHT - PAD, x2: WIDTH, y2: HEIGHT - PAD, class: "axis" }),
      svg("text", { x: PAD, y: HEIGHT - 4, class: "tick" }, first),
      svg("text", { x: WIDTH - 2, y: HEIGHT - 4, class: "tick end" }, "now"),
      svg("text", { x: 0, y: 10, class: "tick" }, count(peak)),
      bars));
}

function hour(iso) {
  return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}
