// Line charts of per-epoch values as SVG: one <path> per series (one point per epoch
// that has a value), the best epoch marked. The SVG has a text alternative, and a table
// of the same values follows it for screen readers.

import { h, svg, uniqueId } from "./dom.js";
import { formatNumber } from "./format.js";

const WIDTH = 640;
const HEIGHT = 280;
const MARGIN = { top: 16, right: 20, bottom: 40, left: 64 };

/** Round tick values covering lo..hi, about `count` of them. */
function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function extent(seriesList) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of seriesList) {
    for (const v of s.values) {
      if (v === null) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (lo === Infinity) return null;
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/**
 * A chart figure, or null when no series has a value.
 * series: [{name, label, values: [number|null], cls}]
 * markers: [{epoch (from 1), label, cls}] (the best epochs)
 */
export function lineChart({ title, yLabel, series, markers = [] }) {
  const drawn = series.filter((s) => s.values.some((v) => v !== null));
  const range = extent(drawn);
  if (!range) return null;
  const epochs = Math.max(...drawn.map((s) => s.values.length));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (epoch) => MARGIN.left + (epochs > 1 ? ((epoch - 1) / (epochs - 1)) * plotW : plotW / 2);
  const y = (v) => MARGIN.top + (1 - (v - range[0]) / (range[1] - range[0])) * plotH;

  const grid = [];
  for (const v of ticks(range[0], range[1], 5)) {
    if (v < range[0] || v > range[1]) continue;
    grid.push(svg("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(v), y2: y(v) }));
    grid.push(svg("text", { class: "tick", x: MARGIN.left - 6, y: y(v) + 4, "text-anchor": "end" },
      formatNumber(v)));
  }
  for (const e of ticks(1, epochs, Math.min(8, epochs)).filter(Number.isInteger)) {
    grid.push(svg("text", { class: "tick", x: x(e), y: HEIGHT - MARGIN.bottom + 16, "text-anchor": "middle" },
      String(e)));
  }

  const paths = drawn.map((s) => {
    const commands = [];
    let points = 0;
    let previous = null;
    s.values.forEach((v, i) => {
      if (v !== null) {
        commands.push(`${previous === null ? "M" : "L"}${x(i + 1).toFixed(1)} ${y(v).toFixed(1)}`);
        points += 1;
      }
      previous = v;
    });
    return svg("path", {
      class: `series ${s.cls || ""}`,
      d: commands.join(" "),
      dataset: { series: s.name, points },
    }, svg("title", {}, s.label));
  });

  const marks = markers
    .filter((m) => Number.isInteger(m.epoch) && m.epoch >= 1 && m.epoch <= epochs)
    .map((m) => svg("g", { class: `best ${m.cls || ""}`, dataset: { bestEpoch: m.epoch } },
      svg("title", {}, m.label),
      svg("line", { x1: x(m.epoch), x2: x(m.epoch), y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }),
      ...(m.value === null || m.value === undefined ? [] :
        [svg("circle", { cx: x(m.epoch), cy: y(m.value), r: 5 })])));

  const titleId = uniqueId("chart-title");
  const description = `${title}: ${drawn.map((s) => s.label).join(", ")} over ${epochs} epochs` +
    (markers.length ? `; ${markers.map((m) => m.label).join("; ")}` : "");
  const chart = svg("svg", {
    class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": titleId,
    preserveAspectRatio: "xMidYMid meet",
  },
  svg("title", { id: titleId }, description),
  ...grid,
  svg("line", { class: "axis", x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }),
  svg("line", { class: "axis", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: HEIGHT - MARGIN.bottom,
    y2: HEIGHT - MARGIN.bottom }),
  svg("text", { class: "axis-label", x: MARGIN.left + plotW / 2, y: HEIGHT - 6, "text-anchor": "middle" }, "epoch"),
  svg("text", { class: "axis-label", x: 14, y: MARGIN.top + plotH / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${MARGIN.top + plotH / 2})` }, yLabel),
  ...paths,
  ...marks);

  const legend = h("ul", { class: "legend" },
    drawn.map((s) => h("li", {}, h("span", { class: `swatch ${s.cls || ""}`, "aria-hidden": "true" }), s.label)),
    markers.map((m) => h("li", {}, h("span", { class: `swatch best ${m.cls || ""}`, "aria-hidden": "true" }),
      m.label)));

  return h("figure", { class: "chart-figure" }, h("figcaption", {}, title), chart, legend,
    dataTable(title, drawn, epochs));
}

/** The plotted values as a table, folded away (for screen readers and copying). */
function dataTable(title, drawn, epochs) {
  const rows = [];
  for (let i = 0; i < epochs; i += 1) {
    rows.push(h("tr", {}, h("th", { scope: "row" }, String(i + 1)),
      drawn.map((s) => h("td", {}, formatNumber(s.values[i] ?? null)))));
  }
  return h("details", { class: "chart-data" },
    h("summary", {}, `${title}: values`),
    h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "epoch"),
        drawn.map((s) => h("th", { scope: "col" }, s.label)))),
      h("tbody", {}, rows)));
}

/**
 * The training curves of one or more models: a loss chart and an RMSE chart.
 * entries: [{prefix ("" or "A: name "), metrics (performance_metrics), cls}]
 */
export function trainingCharts(entries) {
  const charts = [];
  for (const [kind, yLabel, unit] of [["loss", "loss", ""], ["rmse", "RMSE (m)", " m"]]) {
    const seriesList = [];
    const markers = [];
    for (const { prefix, metrics, cls, best } of entries) {
      const curves = metrics || {};
      for (const split of ["train", "val"]) {
        const name = `${split}_${kind}`;
        const values = Array.isArray(curves[name])
          ? curves[name].map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null))
          : [];
        seriesList.push({
          name: `${prefix ? prefix.id + ":" : ""}${name}`,
          label: `${prefix ? prefix.text + " " : ""}${split === "train" ? "train" : "validation"} ${kind === "loss" ? "loss" : "RMSE"}`,
          values,
          cls: `${split} ${cls || ""}`,
        });
        if (split === "val" && best !== null && values.some((v) => v !== null)) {
          const value = values[best - 1] ?? null;
          markers.push({
            epoch: best,
            value,
            cls,
            label: `${prefix ? prefix.text + " " : ""}best epoch ${best}` +
              (value === null ? "" : ` (validation ${kind === "loss" ? "loss" : "RMSE"} ${formatNumber(value)}${unit})`),
          });
        }
      }
    }
    const chart = lineChart({
      title: kind === "loss" ? "Loss per epoch" : "RMSE per epoch (meters)",
      yLabel,
      series: seriesList,
      markers,
    });
    if (chart) {
      chart.dataset.chart = kind;
      charts.push(chart);
    }
  }
  return charts;
}
