// The metadata sections of a model record as DOM: key/value tables, normalization
// statistics and sample predictions as tables, signatures and provenance.

import { h, keyValueTable, routeLink } from "./dom.js";
import {
  compact, formatBytes, formatDate, formatNumber, isNumber, isObject, summarizeList,
} from "./format.js";

export const MAX_ROWS = 200;

/** A value for a table cell: numbers formatted, lists summarized, objects as JSON. */
export function cell(value) {
  if (Array.isArray(value) && value.length > 8) return summarizeList(value);
  if (isNumber(value)) return formatNumber(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (isObject(value) || Array.isArray(value)) {
    const text = JSON.stringify(value, null, 1);
    return text.length > 120 ? h("pre", { class: "json" }, text.length > 4000 ? text.slice(0, 4000) + "…" : text)
      : compact(value);
  }
  return value === null || value === undefined || value === "" ? "—" : String(value);
}

/** An object's fields as a key/value table (null if it has none). */
export function objectTable(caption, object, attrs = {}) {
  if (!isObject(object) || !Object.keys(object).length) return null;
  return keyValueTable(caption, Object.entries(object).map(([k, v]) => [k, cell(v)]), attrs);
}

function rowsNote(total) {
  return total > MAX_ROWS ? h("p", { class: "note" }, `The first ${MAX_ROWS} of ${total} rows.`) : null;
}

/** normalization_stats: one row per feature for the per-feature lists, the rest as fields. */
export function normalizationTable(stats) {
  if (!isObject(stats)) return null;
  const lists = Object.entries(stats).filter(([, v]) => Array.isArray(v));
  const others = Object.fromEntries(Object.entries(stats).filter(([, v]) => !Array.isArray(v)));
  const rows = Math.max(0, ...lists.map(([, v]) => v.length));
  const out = [];
  if (lists.length) {
    const body = [];
    for (let i = 0; i < Math.min(rows, MAX_ROWS); i += 1) {
      body.push(h("tr", {}, h("th", { scope: "row" }, String(i)), lists.map(([, v]) => h("td", { class: "num" }, cell(v[i])))));
    }
    out.push(h("table", { class: "normalization", id: "normalization-table" },
      h("caption", {}, "Per feature"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "feature"),
        lists.map(([k]) => h("th", { scope: "col", class: "num" }, k)))),
      h("tbody", {}, body)), rowsNote(rows));
  }
  const rest = objectTable("Other statistics", others);
  if (rest) out.push(rest);
  return out.length ? out : null;
}

/** sample_predictions: one row per sample, one column per field. */
export function samplesTable(samples) {
  if (!Array.isArray(samples) || !samples.length) return null;
  const columns = [];
  for (const s of samples.slice(0, MAX_ROWS)) {
    if (!isObject(s)) continue;
    for (const k of Object.keys(s)) if (!columns.includes(k)) columns.push(k);
  }
  const label = (k) => (k === "error_meters" ? "error (m)" : k.replaceAll("_", " "));
  return [h("table", { class: "samples", id: "samples-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "#"), columns.map((k) => h("th", { scope: "col" }, label(k))))),
    h("tbody", {}, samples.slice(0, MAX_ROWS).map((s, i) => h("tr", {},
      h("th", { scope: "row" }, String(i + 1)),
      columns.map((k) => h("td", {}, isObject(s) ? compact(s[k], 120) : i === 0 ? compact(s) : "")))))),
  rowsNote(samples.length)];
}

/** The model's own fields (columns and the bundle's other model fields). */
export function overviewPairs(record) {
  const extra = isObject(record.extra) ? record.extra : {};
  const extraModel = isObject(extra.model) ? extra.model : {};
  // Symbolic dimensions ("batch") are kept in extra; the columns hold -1 for them.
  const shape = (name) => {
    const raw = extraModel[name] ?? extra[name] ?? record[name];
    return raw ? JSON.stringify(raw) : "—";
  };
  const pairs = [
    ["Model id", h("code", {}, record.model_id)],
    ["Name", record.model_name],
    ["Version", String(record.version)],
    ["Status", record.status || "—"],
    ["Architecture", record.architecture || "—"],
    ["Framework", record.framework || "—"],
    ["ONNX opset", cell(record.onnx_opset)],
    ["Input shape", shape("input_shape")],
    ["Output shape", shape("output_shape")],
    ["Parameters", isNumber(record.parameters_count) ? record.parameters_count.toLocaleString("en") : "—"],
    ["Size", isNumber(record.onnx_size_bytes)
      ? `${formatBytes(record.onnx_size_bytes)} (${record.onnx_size_bytes.toLocaleString("en")} bytes)` : "—"],
    ["Created", h("time", { datetime: record.created_at }, formatDate(record.created_at))],
    ["Updated", h("time", { datetime: record.updated_at }, formatDate(record.updated_at))],
    ["Description", record.description || "—"],
  ];
  for (const [k, v] of Object.entries(extraModel)) {
    if (k !== "input_shape" && k !== "output_shape") pairs.push([k, cell(v)]);
  }
  return pairs;
}

export function checksumPairs(record) {
  return [
    ["MD5", h("code", { class: "checksum", dataset: { checksum: "md5" } }, record.onnx_md5 || "—")],
    ["SHA-256", h("code", { class: "checksum", dataset: { checksum: "sha256" } }, record.onnx_sha256 || "—")],
    ["Size", isNumber(record.onnx_size_bytes) ? `${record.onnx_size_bytes.toLocaleString("en")} bytes` : "—"],
    ["Object", record.onnx_path ? h("code", {}, record.onnx_path) : "—"],
  ];
}

/** A model saved with external data: the files beside its ONNX file, with their sizes
 * and digests (null when it has none). */
export function externalDataTable(record) {
  const files = Array.isArray(record.external_data) ? record.external_data.filter(isObject) : [];
  if (!files.length) return null;
  const text = (v) => (typeof v === "string" && v ? v : "—");
  const total = files.reduce((sum, f) => sum + (isNumber(f.size_bytes) ? f.size_bytes : 0), 0);
  return h("table", { id: "external-data-table", class: "external-data" },
    h("caption", {}, `External data: ${files.length} file${files.length === 1 ? "" : "s"}, `
      + `${total.toLocaleString("en")} bytes, beside the ONNX file`),
    h("thead", {}, h("tr", {}, ["File", "Size", "MD5", "SHA-256"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, files.map((f) => h("tr", {},
      h("td", {}, h("code", { class: "path" }, text(f.path))),
      h("td", {}, isNumber(f.size_bytes) ? `${f.size_bytes.toLocaleString("en")} bytes` : "—"),
      h("td", {}, h("code", { class: "checksum" }, text(f.md5))),
      h("td", {}, h("code", { class: "checksum" }, text(f.sha256)))))));
}

/** Signature entries wherever a record may hold them (the bundle's top-level
 * `signatures`, kept in extra), and provenance entries (signatures of earlier bundles). */
export function signaturesOf(record) {
  const extra = isObject(record.extra) ? record.extra : {};
  const top = isObject(extra.top) ? extra.top : {};
  const source = isObject(extra.source_bundle) ? extra.source_bundle : {};
  const list = (v) => (Array.isArray(v) ? v.filter(isObject) : []);
  const own = [...list(extra.signatures), ...list(top.signatures), ...list(record.signatures)];
  const provenance = [...list(source.provenance), ...list(extra.provenance)];
  return { own, provenance };
}

// A verification outcome, where the server recorded one with the entry.
function checked(s) {
  if (typeof s.status === "string") return s.status;
  if (typeof s.verified === "boolean") return s.verified ? "valid" : "invalid";
  return null;
}

function signatureTable(caption, entries) {
  const text = (v) => (typeof v === "string" && v ? v : "—");
  const withStatus = entries.some((s) => checked(s) !== null);
  const headers = ["Signer (as the bundle names it)", "Key id", "Signed at", "Algorithm"];
  return h("table", { class: "signatures" }, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, [...headers, ...(withStatus ? ["Checked"] : [])]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, entries.map((s) => h("tr", {},
      h("td", { class: "signer" }, text(s.signer)),
      h("td", {}, h("code", { class: "key-id" }, text(s.key_id))),
      h("td", {}, typeof s.signed_at === "string" ? formatDate(s.signed_at) : "—"),
      h("td", {}, text(s.algorithm)),
      withStatus ? h("td", {}, checked(s) ?? "—") : null))));
}

/** Provenance: where the model came from, and who signed it. */
export function provenanceSection(record) {
  const extra = isObject(record.extra) ? record.extra : {};
  const source = isObject(extra.source_bundle) ? extra.source_bundle : null;
  const parts = [];
  const pairs = [["Imported from", record.source_model_id
    ? h("span", {}, "model ", routeLink(["models", record.source_model_id], record.source_model_id, { class: "source-link" }),
      " on the exporting instance")
    : source ? "a bundle that named no model id" : "— (registered here)"]];
  if (typeof extra.source_format_version === "string") pairs.push(["Bundle format", extra.source_format_version]);
  if (source) {
    for (const [k, v] of Object.entries(source)) {
      if (k === "provenance") continue;
      const label = k === "bundle_id" ? "Bundle id" : `Bundle ${k.replaceAll("_", " ")}`;
      const value = k.endsWith("_at") && typeof v === "string"
        ? h("time", { datetime: v, title: v }, formatDate(v)) : cell(v);
      pairs.push([label, value]);
    }
  }
  parts.push(keyValueTable(null, pairs, { id: "provenance-table" }));
  const { own, provenance } = signaturesOf(record);
  if (own.length) parts.push(signatureTable("Signatures of the imported bundle", own));
  provenance.forEach((entry, i) => {
    const signed = Array.isArray(entry.signatures) ? entry.signatures.filter(isObject) : [];
    const meta = isObject(entry.metadata) && isObject(entry.metadata.bundle_metadata) ? entry.metadata.bundle_metadata : {};
    const when = typeof meta.created_at === "string" ? ` (bundle of ${formatDate(meta.created_at)}` +
      (typeof meta.exported_by === "string" ? `, exported by ${meta.exported_by})` : ")") : "";
    if (signed.length) parts.push(signatureTable(`Earlier signatures ${i + 1}${when}`, signed));
  });
  if (!own.length && !provenance.length) parts.push(h("p", { class: "note" }, "No signatures."));
  return parts;
}

/** What else the record keeps of its bundle (unknown top-level members). */
export function otherMetadata(record) {
  const extra = isObject(record.extra) ? record.extra : {};
  const top = isObject(extra.top) ? Object.fromEntries(Object.entries(extra.top).filter(([k]) => k !== "signatures")) : {};
  const known = new Set(["model", "top", "source_bundle", "source_format_version", "signatures", "provenance", "signing",
    "input_shape", "output_shape"]);
  const rest = Object.fromEntries(Object.entries(extra).filter(([k]) => !known.has(k)));
  return objectTable("Other metadata", { ...top, ...rest });
}
