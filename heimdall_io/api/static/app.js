// The page's shell: the API key and the role the server reports, the router (#/models,
// #/models/<id>, #/compare/<a>/<b>, #/import, #/audit), messages and the confirm dialog.

import { ApiError, fetchRole, getKey, setKey } from "./api.js";
import { h, replace } from "./dom.js";
import * as audit from "./view-audit.js";
import * as compare from "./view-compare.js";
import * as detail from "./view-detail.js";
import * as importer from "./view-import.js";
import * as models from "./view-models.js";

const $ = (id) => document.getElementById(id);
const main = $("main");
const errorBox = $("error");
const noticeBox = $("notice");
const keyForm = $("key-form");
const keyInput = $("api-key");
const keyStatus = $("key-status");
const roleLabel = $("role-label");
const dialog = $("confirm-dialog");

let generation = 0;
let pendingNotice = "";

const app = {
  session: { role: "anonymous", keysRequired: false, maxImportBytes: null },
  importValidate: true,

  navigate(parts) {
    location.hash = "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
  },

  setTitle(text) {
    document.title = `${text} · Heimdall models`;
  },

  /** Show an error as one readable line (ApiError carries the server's "detail"). */
  showError(err) {
    if (err instanceof ApiError && err.status === 401 && app.session.keysRequired) {
      forgetKey("That API key is not accepted: enter a valid one.");
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    const status = err instanceof ApiError && err.status ? ` (HTTP ${err.status})` : "";
    replace(errorBox, message + status);
    errorBox.hidden = false;
  },

  /** A message that survives the next navigation (e.g. "Deleted ..."). */
  notice(text) {
    pendingNotice = text;
    replace(noticeBox, text);
  },

  confirm(text) {
    replace($("confirm-text"), text);
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  },
};

function clearMessages() {
  errorBox.hidden = true;
  replace(errorBox);
  replace(noticeBox, pendingNotice);
  pendingNotice = "";
}

function routeOf(hash) {
  let parts;
  try {
    parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
  const [first, ...rest] = parts;
  if (!first || (first === "models" && rest.length === 0)) return { nav: "models", view: models, title: "Models", args: [] };
  if (first === "models" && rest.length === 1) return { nav: "models", view: detail, title: "Model", args: rest };
  if (first === "compare" && rest.length === 2) return { nav: "models", view: compare, title: "Compare", args: rest };
  if (first === "import" && rest.length === 0) return { nav: "import", view: importer, title: "Import", args: [] };
  if (first === "audit" && rest.length === 0) return { nav: "audit", view: audit, title: "Audit history", args: [] };
  return null;
}

function drawSession() {
  const { role, keysRequired } = app.session;
  const signedIn = keysRequired && role !== "anonymous";
  keyForm.hidden = !keysRequired || signedIn;
  keyStatus.hidden = !keysRequired || !signedIn;
  $("forget-key").hidden = !signedIn;
  replace(roleLabel, signedIn ? `Signed in with ${role === "admin" ? "an" : "a"} ${role} key` : "");
  document.body.dataset.role = role;
  for (const el of document.querySelectorAll("[data-admin-only]")) {
    el.closest("li").hidden = role !== "admin";
  }
  if (!keysRequired) {
    keyStatus.hidden = false;
    replace(roleLabel, "Open access: this server has no API keys");
  }
}

// After a navigation the focus goes to the view's heading (tabindex=-1), so that keyboard
// and screen reader users start at the top of the new content.
function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading && document.activeElement !== keyInput) heading.focus({ preventScroll: true });
}

async function show() {
  generation += 1;
  const mine = generation;
  clearMessages();
  const route = routeOf(location.hash);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (route && link.dataset.nav === route.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = { main, alive: () => generation === mine };
  if (app.session.keysRequired && app.session.role === "anonymous") {
    app.setTitle("API key needed");
    replace(main, h("h1", { tabindex: "-1" }, "API key needed"),
      h("p", {}, "This server requires an API key. Enter yours above: it is kept for this tab only."));
    keyInput.focus();
    return;
  }
  if (!route) {
    app.setTitle("Not found");
    replace(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/models" }, "All models")));
    main.querySelector("h1").focus();
    return;
  }
  app.setTitle(route.title);
  try {
    const rendering = route.view.render(app, view, route.args);
    focusHeading();
    await rendering;
    // A view that replaced its "Loading" heading took the focus with it: give it back.
    if (view.alive() && (!document.activeElement || document.activeElement === document.body)) {
      focusHeading();
    }
  } catch (err) {
    if (!view.alive()) return;
    app.showError(err);
    if (main.querySelector(".loading")) main.querySelector(".loading").remove();
    focusHeading();
  }
}

async function loadSession(key) {
  const info = await fetchRole(key);
  app.session = {
    role: info.role,
    keysRequired: Boolean(info.keys_required),
    maxImportBytes: typeof info.max_import_bytes === "number" ? info.max_import_bytes : null,
  };
  drawSession();
}

async function forgetKey(message) {
  setKey("");
  try {
    await loadSession("");
  } catch (err) {
    app.showError(err);
  }
  await show();
  if (message) {
    replace(errorBox, message);
    errorBox.hidden = false;
  }
}

keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return;
  try {
    await loadSession(key);
  } catch (err) {
    const message = err instanceof ApiError && err.status === 401 ? `${err.message}: check the key` : err.message;
    replace(errorBox, message);
    errorBox.hidden = false;
    keyInput.select();
    return;
  }
  setKey(key);
  keyInput.value = "";
  await show();
});

$("forget-key").addEventListener("click", () => forgetKey(""));
// Until the server has said whether keys are needed, no view is shown (start() shows one).
let ready = false;
window.addEventListener("hashchange", () => {
  if (ready) show();
});
// A file dropped outside the drop zone must not replace the page.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (e) => {
    if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) e.preventDefault();
  });
}

async function start() {
  try {
    await loadSession(getKey());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setKey(""); // a key from earlier in this tab that the server no longer accepts
      await loadSession("").catch(() => {});
    } else {
      replace(main, h("h1", { tabindex: "-1" }, "Heimdall models"));
      app.showError(err);
      return;
    }
  }
  ready = true;
  await show();
}

start();
