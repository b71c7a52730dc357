// Reading a model record (as GET /api/v1/training/models/{id} returns it) and formatting
// its values for display. Nothing here touches the DOM.

export const SECTIONS = [
  "training_config",
  "performance_metrics",
  "normalization_stats",
  "sample_predictions",
];
// The fields of a flat training_metrics row (the original Heimdall service's) by section;
// anything else counts as a metric (as heimdall_io.service.records.sections_of does).
const CONFIG_FIELDS = new Set([
  "epochs", "batch_size", "learning_rate", "optimizer", "loss_function", "early_stopping",
  "early_stopping_patience", "validation_split", "dataset_ids", "dataset_names",
]);
const NORMALIZATION_FIELDS = new Set(["feature_means", "feature_stds"]);

export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

/** The bundle sections held in a record's training_metrics. */
export function sectionsOf(trainingMetrics) {
  if (!isObject(trainingMetrics)) return {};
  if (SECTIONS.some((name) => name in trainingMetrics)) return trainingMetrics;
  const out = {};
  for (const [key, value] of Object.entries(trainingMetrics)) {
    const section = CONFIG_FIELDS.has(key)
      ? "training_config"
      : NORMALIZATION_FIELDS.has(key)
        ? "normalization_stats"
        : "performance_metrics";
    out[section] = out[section] || {};
    out[section][key] = value;
  }
  return out;
}

/** performance_metrics of a record, or null. */
export function metricsOf(record) {
  const metrics = sectionsOf(record && record.training_metrics).performance_metrics;
  return isObject(metrics) ? metrics : null;
}

/** A per-epoch list: numbers, with null for a missing epoch; [] if it is not a list. */
export function series(value) {
  return Array.isArray(value) ? value.map((v) => (isNumber(v) ? v : null)) : [];
}

function finiteValues(list) {
  return series(list).filter((v) => v !== null);
}

/** The best validation RMSE (meters): the lowest of val_rmse, or a best/final value. */
export function bestValRmse(metrics) {
  if (!isObject(metrics)) return null;
  const values = finiteValues(metrics.val_rmse);
  if (values.length) return Math.min(...values);
  for (const name of ["best_val_rmse", "best_val_rmse_m", "final_val_rmse", "val_rmse"]) {
    if (isNumber(metrics[name])) return metrics[name];
  }
  return null;
}

/** The best epoch, counted from 1: best_epoch if it fits, else the lowest val_loss. */
export function bestEpoch(metrics) {
  if (!isObject(metrics)) return null;
  const valLoss = series(metrics.val_loss);
  const epochs = Math.max(valLoss.length, series(metrics.val_rmse).length,
    series(metrics.train_loss).length);
  const declared = metrics.best_epoch;
  if (Number.isInteger(declared) && declared >= 1 && declared <= epochs) return declared;
  let best = null;
  valLoss.forEach((v, i) => {
    if (v !== null && (best === null || v < valLoss[best])) best = i;
  });
  return best === null ? null : best + 1;
}

/** The per-epoch curves of a record, by name (only those with a value). */
export function curvesOf(metrics) {
  const out = {};
  if (!isObject(metrics)) return out;
  for (const name of ["train_loss", "val_loss", "train_rmse", "val_rmse"]) {
    const values = series(metrics[name]);
    if (values.some((v) => v !== null)) out[name] = values;
  }
  return out;
}

export function formatNumber(value) {
  if (!isNumber(value)) return value === null || value === undefined ? "—" : String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return value.toExponential(3);
  return String(Number(value.toPrecision(6)));
}

export function formatMeters(value) {
  return isNumber(value) ? `${formatNumber(value)} m` : "—";
}

export function formatBytes(bytes) {
  if (!isNumber(bytes)) return "—";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${bytes} bytes`;
  return `${Number(value.toFixed(value < 10 ? 2 : 1))} ${units[unit]}`;
}

/** "2026-12-01 13:39" in local time, or the text as it is if it is no date. */
export function formatDate(text) {
  if (typeof text !== "string" || !text) return "—";
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Any JSON value as one line of text (long ones cut). */
export function compact(value, max = 200) {
  let text;
  if (value === null || value === undefined) text = "—";
  else if (typeof value === "string") text = value;
  else if (isNumber(value)) text = formatNumber(value);
  else if (isObject(value) && Object.values(value).every((v) => !isObject(v) && !Array.isArray(v))) {
    text = Object.entries(value).map(([k, v]) => `${k} ${compact(v, max)}`).join(", ");
  } else text = JSON.stringify(value);
  return text.length > max ? text.slice(0, max) + "…" : text;
}

/** A one-line summary of a per-epoch list, as `heimdall diff` words it. */
export function summarizeList(value) {
  if (!Array.isArray(value)) return compact(value);
  const values = series(value);
  const last = [...values].reverse().find((v) => v !== null);
  if (values.length && values.every((v, i) => v !== null || value[i] === null)) {
    return `${value.length} epochs, last ${formatNumber(last ?? null)}`;
  }
  return `${value.length} entries`;
}

export function shortId(id) {
  return typeof id === "string" && id.length > 8 ? id.slice(0, 8) : String(id ?? "—");
}
