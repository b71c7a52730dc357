// Two models side by side: every field, the differing ones marked, curves overlaid.

import { getModel } from "./api.js";
import { trainingCharts } from "./chart.js";
import { h, replace, routeLink } from "./dom.js";
import {
  bestEpoch, bestValRmse, formatBytes, formatMeters, isObject, metricsOf, sectionsOf,
} from "./format.js";
import { cell } from "./sections.js";

const MODEL_FIELDS = [
  "model_name", "version", "architecture", "framework", "onnx_opset", "input_shape",
  "output_shape", "parameters_count", "onnx_size_bytes", "onnx_md5", "onnx_sha256",
  "source_model_id", "description", "created_at",
];

/** [label, value] rows of a record: model fields, then each section's fields. */
function fields(record) {
  const out = new Map();
  for (const name of MODEL_FIELDS) out.set(`model.${name}`, record[name]);
  const metrics = metricsOf(record);
  out.set("best validation RMSE", bestValRmse(metrics));
  out.set("best epoch", bestEpoch(metrics));
  const sections = sectionsOf(record.training_metrics);
  for (const [section, value] of Object.entries(sections)) {
    if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) out.set(`${section}.${k}`, v);
    } else {
      out.set(section, value);
    }
  }
  return out;
}

function display(name, value) {
  if (value === undefined) return h("span", { class: "absent" }, "(absent)");
  if (name === "model.onnx_size_bytes") return formatBytes(value);
  if (name === "best validation RMSE") return formatMeters(value);
  if (Array.isArray(value) && value.some((v) => isObject(v) || Array.isArray(v))) {
    return `${value.length} entr${value.length === 1 ? "y" : "ies"}`;
  }
  return cell(value);
}

export async function render(app, view, [a, b]) {
  replace(view.main, h("h1", { tabindex: "-1" }, "Compare"), h("p", { class: "loading" }, "Loading…"));
  const [left, right] = await Promise.all([getModel(a), getModel(b)]);
  if (!view.alive()) return;
  app.setTitle(`${left.model_name} vs ${right.model_name}`);
  const fl = fields(left);
  const fr = fields(right);
  const names = [...new Set([...fl.keys(), ...fr.keys()])];
  let differing = 0;
  const rows = names.map((name) => {
    const same = JSON.stringify(fl.get(name)) === JSON.stringify(fr.get(name));
    if (!same) differing += 1;
    return h("tr", { class: same ? "same" : "differs", dataset: { field: name } },
      h("th", { scope: "row" }, name, same ? null : h("span", { class: "diff-mark", title: "differs" }, " ≠")),
      h("td", {}, display(name, fl.get(name))), h("td", {}, display(name, fr.get(name))));
  });
  const onlyDiff = h("input", { type: "checkbox", id: "only-differences" });
  const table = h("table", { class: "compare", id: "compare-table" },
    h("caption", {}, `${differing} of ${names.length} fields differ`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "field"),
      h("th", { scope: "col" }, "A: ", routeLink(["models", left.model_id], left.model_name)),
      h("th", { scope: "col" }, "B: ", routeLink(["models", right.model_id], right.model_name)))),
    h("tbody", {}, rows));
  onlyDiff.addEventListener("change", () => table.classList.toggle("only-differences", onlyDiff.checked));

  const charts = trainingCharts([
    { prefix: { id: "a", text: "A" }, metrics: metricsOf(left), cls: "m-a", best: bestEpoch(metricsOf(left)) },
    { prefix: { id: "b", text: "B" }, metrics: metricsOf(right), cls: "m-b", best: bestEpoch(metricsOf(right)) },
  ]);
  replace(view.main,
    h("p", { class: "breadcrumb" }, h("a", { href: "#/models" }, "Models"), " / "),
    h("h1", { tabindex: "-1" }, "Compare: ", h("span", { class: "model-a" }, `A ${left.model_name}`),
      " and ", h("span", { class: "model-b" }, `B ${right.model_name}`)),
    h("section", { class: "card", "aria-labelledby": "curves-heading" },
      h("h2", { id: "curves-heading" }, "Training curves"),
      charts.length ? h("div", { class: "charts" }, charts) : h("p", { class: "note" }, "Neither model has per-epoch metrics.")),
    h("section", { class: "card", "aria-labelledby": "fields-heading" },
      h("h2", { id: "fields-heading" }, "Metadata"),
      h("div", { class: "check" }, onlyDiff, h("label", { for: "only-differences" }, "Show only the differences")),
      h("div", { class: "table-scroll" }, table)));
}
