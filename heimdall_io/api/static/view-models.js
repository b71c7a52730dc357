// The models list: searchable, sortable, loaded page by page; pick two to compare.

import { getModel, listModels } from "./api.js";
import { h, replace, routeLink } from "./dom.js";
import {
  bestValRmse, formatBytes, formatDate, formatMeters, metricsOf, shortId,
} from "./format.js";

// Models per request; `?page_size=` in the page's URL changes it (1 to 1000).
const requested = Number(new URLSearchParams(location.search).get("page_size"));
export const PAGE_SIZE = Number.isInteger(requested) && requested >= 1 && requested <= 1000 ? requested : 100;
const LAZY_DETAILS = 3; // detail requests at once, for rows the list gave no metrics

const COLUMNS = [
  { key: "name", label: "Name", value: (m) => m.model_name.toLowerCase() },
  { key: "version", label: "Version", value: (m) => m.version, num: true },
  { key: "architecture", label: "Architecture", value: (m) => (m.architecture || "").toLowerCase() },
  { key: "size", label: "Size", value: (m) => m.onnx_size_bytes, num: true },
  { key: "rmse", label: "Best val RMSE", value: (m) => m.__rmse, num: true },
  { key: "created", label: "Created", value: (m) => m.created_at },
  { key: "source", label: "Imported from", value: (m) => m.source_model_id },
];

// Kept while the tab lives: the search, the order, the models picked for comparison.
const prefs = { search: "", sort: "created", descending: true, selected: [] };

function compareValues(a, b) {
  const missingA = a === null || a === undefined || a === "";
  const missingB = b === null || b === undefined || b === "";
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1; // last
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function render(app, view) {
  const state = { models: [], ids: new Set(), done: false, loading: false, detailsQueue: [], active: 0 };
  const search = h("input", {
    id: "model-search", type: "search", value: prefs.search, autocomplete: "off",
    "aria-controls": "models-table",
  });
  const compareButton = h("button", { type: "button", id: "compare-button" });
  const status = h("p", { id: "models-status", role: "status" });
  const more = h("button", { type: "button", id: "load-more", hidden: true }, "Load more models");
  const tbody = h("tbody");
  const headRow = h("tr", {}, h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Compare")));
  const table = h("table", { id: "models-table", class: "models" },
    h("caption", { class: "visually-hidden" }, "Models, sortable by each column"),
    h("thead", {}, headRow), tbody);

  for (const col of COLUMNS) {
    const button = h("button", { type: "button", class: "sort", dataset: { sort: col.key } }, col.label);
    const th = h("th", { scope: "col", class: col.num ? "num" : null, dataset: { column: col.key } }, button);
    button.addEventListener("click", () => {
      prefs.descending = prefs.sort === col.key ? !prefs.descending : col.key === "created";
      prefs.sort = col.key;
      draw();
    });
    headRow.append(th);
  }

  function visible() {
    const needle = prefs.search.trim().toLowerCase();
    const rows = state.models.filter((m) => !needle || [m.model_name, m.architecture, m.model_id,
      m.source_model_id, m.description].some((v) => typeof v === "string" && v.toLowerCase().includes(needle)));
    const col = COLUMNS.find((c) => c.key === prefs.sort) || COLUMNS[5];
    rows.sort((a, b) => {
      const order = compareValues(col.value(a), col.value(b));
      const missing = [col.value(a), col.value(b)].some((v) => v === null || v === undefined || v === "");
      return missing ? order : prefs.descending ? -order : order;
    });
    return rows;
  }

  function rmseCell(m) {
    if (m.__rmse === undefined) return h("span", { class: "pending" }, "…");
    return formatMeters(m.__rmse);
  }

  // The original id of an imported model: a link when that model is in this registry too.
  function sourceCell(id) {
    if (!id) return "—";
    const text = h("code", {}, shortId(id));
    return state.ids.has(id) ? routeLink(["models", id], text, { title: id, class: "source-link" })
      : h("span", { title: `${id} (not in this registry)` }, text);
  }

  function drawCompare() {
    const n = prefs.selected.length;
    replace(compareButton, `Compare selected (${n} of 2)`);
    compareButton.disabled = n !== 2;
  }

  function draw() {
    for (const th of headRow.querySelectorAll("th[data-column]")) {
      const sorted = th.dataset.column === prefs.sort;
      if (sorted) th.setAttribute("aria-sort", prefs.descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
    const rows = visible();
    replace(tbody, rows.map((m) => {
      const checkbox = h("input", {
        type: "checkbox", class: "select-model", value: m.model_id,
        checked: prefs.selected.includes(m.model_id),
        "aria-label": `Select ${m.model_name} for comparison`,
      });
      checkbox.addEventListener("change", () => {
        prefs.selected = prefs.selected.filter((id) => id !== m.model_id);
        if (checkbox.checked) prefs.selected.push(m.model_id);
        if (prefs.selected.length > 2) prefs.selected.shift();
        for (const box of tbody.querySelectorAll("input.select-model")) {
          box.checked = prefs.selected.includes(box.value);
        }
        drawCompare();
      });
      return h("tr", { dataset: { modelId: m.model_id } },
        h("td", {}, checkbox),
        h("td", {}, routeLink(["models", m.model_id], m.model_name, { class: "model-link" })),
        h("td", { class: "num" }, String(m.version)),
        h("td", {}, m.architecture || "—"),
        h("td", { class: "num" }, formatBytes(m.onnx_size_bytes)),
        h("td", { class: "num rmse" }, rmseCell(m)),
        h("td", {}, h("time", { datetime: m.created_at, title: m.created_at }, formatDate(m.created_at))),
        h("td", {}, sourceCell(m.source_model_id)));
    }));
    const shown = rows.length;
    const total = state.models.length;
    replace(status, state.loading && !total ? "Loading models…"
      : `${shown === total ? `${total}` : `${shown} of ${total}`} model${total === 1 ? "" : "s"}` +
        (state.done ? "" : " loaded so far") + (prefs.search ? ` matching “${prefs.search}”` : ""));
    more.hidden = state.done;
    more.disabled = state.loading;
    drawCompare();
  }

  function queueDetails(models) {
    state.detailsQueue.push(...models);
    while (state.active < LAZY_DETAILS && state.detailsQueue.length) {
      const m = state.detailsQueue.shift();
      state.active += 1;
      getModel(m.model_id)
        .then((full) => { m.__rmse = bestValRmse(metricsOf(full)); })
        .catch(() => { m.__rmse = null; })
        .finally(() => {
          state.active -= 1;
          if (view.alive()) {
            const cell = tbody.querySelector(`tr[data-model-id="${CSS.escape(m.model_id)}"] td.rmse`);
            if (cell) replace(cell, rmseCell(m));
            queueDetails([]);
          }
        });
    }
  }

  async function loadPage() {
    state.loading = true;
    draw();
    try {
      const { items, more } = await listModels(PAGE_SIZE, state.models.length);
      if (!view.alive()) return;
      const fresh = items.filter((m) => m && typeof m.model_id === "string" && !state.ids.has(m.model_id));
      const lazy = [];
      for (const m of fresh) {
        state.ids.add(m.model_id);
        m.model_name = typeof m.model_name === "string" ? m.model_name : String(m.model_name);
        if ("training_metrics" in m) m.__rmse = bestValRmse(metricsOf(m));
        else lazy.push(m); // a list without metrics: the detail has them
        state.models.push(m);
      }
      state.done = !more || fresh.length === 0;
      queueDetails(lazy);
    } catch (err) {
      app.showError(err);
    } finally {
      state.loading = false;
      if (view.alive()) draw();
    }
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { prefs.search = search.value; draw(); }, 150);
  });
  more.addEventListener("click", loadPage);
  compareButton.addEventListener("click", () => {
    if (prefs.selected.length === 2) app.navigate(["compare", ...prefs.selected]);
  });

  replace(view.main,
    h("h1", { tabindex: "-1" }, "Models"),
    h("div", { class: "toolbar" },
      h("label", { for: "model-search" }, "Search"), search, compareButton),
    status, h("div", { class: "table-scroll" }, table), more);
  await loadPage();
}
