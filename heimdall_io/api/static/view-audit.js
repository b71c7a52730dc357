// The audit history: exports, imports, registrations and deletions, newest first.

import { auditHistory } from "./api.js";
import { h, replace, routeLink } from "./dom.js";
import { formatBytes, formatDate, shortId } from "./format.js";

let limit = 200;

function modelCell(id) {
  return typeof id === "string" && id ? routeLink(["models", id], shortId(id), { title: id }) : "—";
}

export async function render(app, view) {
  const select = h("select", { id: "audit-limit" },
    [50, 200, 1000, 10000].map((n) => h("option", { value: n, selected: n === limit }, `last ${n}`)));
  const body = h("tbody");
  const status = h("p", { role: "status", id: "audit-status" }, "Loading…");
  const table = h("table", { id: "audit-table", class: "audit" },
    h("caption", { class: "visually-hidden" }, "Audit history, newest first"),
    h("thead", {}, h("tr", {}, ["When", "Action", "Result", "Model", "Source model", "Size", "Actor", "Detail"]
      .map((c) => h("th", { scope: "col" }, c)))),
    body);

  async function load() {
    replace(status, "Loading…");
    const entries = await auditHistory(limit);
    if (!view.alive()) return;
    replace(body, entries.map((e) => h("tr", { class: `result-${e.result === "ok" ? "ok" : "error"}` },
      h("td", {}, h("time", { datetime: e.at, title: e.at }, formatDate(e.at))),
      h("td", {}, e.action || "—"),
      h("td", {}, e.result || "—"),
      h("td", {}, modelCell(e.model_id)),
      h("td", {}, e.source_model_id ? h("code", { title: e.source_model_id }, shortId(e.source_model_id)) : "—"),
      h("td", { class: "num" }, formatBytes(e.bytes)),
      h("td", {}, e.actor || "—"),
      h("td", { class: "detail" }, e.detail || ""))));
    replace(status, `${entries.length} entr${entries.length === 1 ? "y" : "ies"}`);
  }
  select.addEventListener("change", () => {
    limit = Number(select.value);
    load().catch((err) => app.showError(err));
  });
  replace(view.main,
    h("h1", { tabindex: "-1" }, "Audit history"),
    h("div", { class: "toolbar" }, h("label", { for: "audit-limit" }, "Show"), select),
    status, h("div", { class: "table-scroll" }, table));
  await load();
}
