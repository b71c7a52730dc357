// One model: every metadata section, its training curves, export and delete.

import { ApiError, deleteModel, downloadLink, getModel } from "./api.js";
import { trainingCharts } from "./chart.js";
import { h, keyValueTable, replace, uniqueId } from "./dom.js";
import { bestEpoch, bestValRmse, formatMeters, isObject, metricsOf, sectionsOf } from "./format.js";
import {
  checksumPairs, externalDataTable, normalizationTable, objectTable, otherMetadata, overviewPairs,
  provenanceSection, samplesTable,
} from "./sections.js";

function section(id, title, ...content) {
  const headingId = `${id}-heading`;
  const body = content.flat().filter(Boolean);
  return h("section", { id, class: "card", "aria-labelledby": headingId },
    h("h2", { id: headingId }, title),
    body.length ? body : h("p", { class: "note" }, "None in this model."));
}

function checkbox(name, label) {
  const id = uniqueId(name);
  return h("div", { class: "check" },
    h("input", { type: "checkbox", id, name, checked: true }), h("label", { for: id }, label));
}

/** The export form: the seed's options; the browser downloads the stream itself. */
function exportForm(app, record) {
  const status = h("p", { class: "form-status", role: "status", id: "export-status" });
  const samples = uniqueId("num-samples");
  const description = uniqueId("description");
  const compression = uniqueId("compression");
  const form = h("form", { id: "export-form", class: "export-form" },
    h("fieldset", {},
      h("legend", {}, "Include"),
      checkbox("include_config", "Training configuration"),
      checkbox("include_metrics", "Performance metrics"),
      checkbox("include_normalization", "Normalization statistics"),
      checkbox("include_samples", "Sample predictions")),
    h("div", { class: "field" }, h("label", { for: samples }, "Number of samples"),
      h("input", { id: samples, name: "num_samples", type: "number", min: 0, max: 100000, value: 5, required: true })),
    h("div", { class: "field" }, h("label", { for: description }, "Description"),
      h("input", { id: description, name: "description", type: "text", maxlength: 4096 })),
    h("div", { class: "field" }, h("label", { for: compression }, "Compression"),
      h("select", { id: compression, name: "compression" },
        h("option", { value: "none" }, "none (JSON)"), h("option", { value: "zstd" }, "zstd"),
        h("option", { value: "gzip" }, "gzip"))),
    h("button", { type: "submit", id: "export-button" }, "Download bundle"),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const options = {};
    for (const name of ["include_config", "include_metrics", "include_normalization", "include_samples"]) {
      options[name] = data.has(name) ? "true" : "false";
    }
    options.num_samples = String(data.get("num_samples") || "0");
    if (data.get("description")) options.description = String(data.get("description"));
    if (data.get("compression") !== "none") options.compression = String(data.get("compression"));
    replace(status, "Preparing the download…");
    try {
      const link = await downloadLink(record.model_id, options);
      navigateDownload(app, link.url, status);
      replace(status, "The download has started: your browser shows its progress.");
    } catch (err) {
      replace(status, "");
      app.showError(err);
    }
  });
  return form;
}

let downloadFrame = null;

/** Navigate a hidden frame to the download URL: the browser streams the bundle to disk.
 * If the server answers with an error instead, the frame shows its JSON: read it. */
function navigateDownload(app, url, status) {
  if (typeof url !== "string" || !url.startsWith("/api/") || url.startsWith("//")) {
    throw new ApiError(0, "The server gave no usable download link");
  }
  if (downloadFrame) downloadFrame.remove();
  const frame = h("iframe", { class: "download-frame", title: "Download", tabindex: "-1", "aria-hidden": "true" });
  frame.src = url;
  frame.addEventListener("load", () => {
    let text = "";
    try {
      text = (frame.contentDocument && frame.contentDocument.body && frame.contentDocument.body.textContent) || "";
    } catch {
      return;
    }
    if (!text.trim()) return;
    let detail = "The download failed";
    try {
      const body = JSON.parse(text);
      if (body && typeof body.detail === "string") detail = `The download failed: ${body.detail}`;
    } catch {
      // not JSON
    }
    replace(status, "");
    app.showError(new ApiError(0, detail));
  });
  document.body.append(frame);
  downloadFrame = frame;
}

function deleteButton(app, record) {
  const button = h("button", { type: "button", class: "danger", id: "delete-button" }, "Delete model…");
  button.addEventListener("click", async () => {
    const ok = await app.confirm(
      `Delete “${record.model_name}” (version ${record.version})? Its registry row and its ONNX ` +
      "object are removed; this cannot be undone.");
    if (!ok) return;
    button.disabled = true;
    try {
      await deleteModel(record.model_id);
      app.notice(`Deleted “${record.model_name}”.`);
      app.navigate(["models"]);
    } catch (err) {
      button.disabled = false;
      app.showError(err);
    }
  });
  return button;
}

function metricsSection(record) {
  const metrics = metricsOf(record);
  const best = bestEpoch(metrics);
  const charts = trainingCharts([{ prefix: null, metrics, cls: "", best }]);
  const scalars = isObject(metrics)
    ? Object.fromEntries(Object.entries(metrics).filter(([, v]) => !Array.isArray(v))) : {};
  const summary = metrics ? keyValueTable(null, [
    ["Best epoch", best === null ? "—" : String(best)],
    ["Best validation RMSE", formatMeters(bestValRmse(metrics))],
  ], { id: "metrics-summary" }) : null;
  return section("metrics", "Training curves and metrics",
    summary, h("div", { class: "charts" }, charts), objectTable("Metrics", scalars));
}

export async function render(app, view, [id]) {
  replace(view.main, h("h1", { tabindex: "-1" }, "Model"), h("p", { class: "loading" }, "Loading…"));
  const record = await getModel(id);
  if (!view.alive()) return;
  app.setTitle(record.model_name);
  const sections = sectionsOf(record.training_metrics);
  const actions = h("div", { class: "actions" });
  if (app.session.role === "admin") actions.append(deleteButton(app, record));

  replace(view.main,
    h("p", { class: "breadcrumb" }, h("a", { href: "#/models" }, "Models"), " / "),
    h("h1", { tabindex: "-1", id: "model-title" }, record.model_name,
      h("span", { class: "badge" }, ` v${record.version}`)),
    actions,
    h("div", { class: "detail-grid" },
      section("overview", "Model", keyValueTable(null, overviewPairs(record), { id: "overview-table" })),
      section("export", "Export", exportForm(app, record))),
    metricsSection(record),
    section("config", "Training configuration", objectTable(null, sections.training_config, { id: "config-table" })),
    section("normalization", "Normalization statistics", normalizationTable(sections.normalization_stats)),
    section("samples", "Sample predictions", samplesTable(sections.sample_predictions)),
    section("checksums", "Checksums", keyValueTable(null, checksumPairs(record), { id: "checksums-table" }),
      externalDataTable(record)),
    section("provenance", "Provenance", provenanceSection(record)),
    section("other", "Other metadata", otherMetadata(record)));
}
