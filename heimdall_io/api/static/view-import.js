// Import: drop or pick .heimdall files; each is uploaded as the raw request body (streamed
// from disk by the browser), one at a time, with its own progress bar and result.

import { uploadBundle } from "./api.js";
import { h, replace, routeLink } from "./dom.js";
import { formatBytes } from "./format.js";

// Uploads outlive the view: leaving the page and coming back shows them still going.
const uploads = [];
let running = false;

function item(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
  const status = h("span", { class: "upload-status" }, "Waiting");
  const result = h("div", { class: "upload-result" });
  const cancel = h("button", { type: "button", class: "link-button" }, "Cancel");
  const li = h("li", { class: "upload", dataset: { state: "waiting" } },
    h("div", { class: "upload-head" }, h("span", { class: "file-name" }, file.name),
      h("span", { class: "file-size" }, ` (${formatBytes(file.size)})`)),
    progress, status, cancel, result);
  return { file, li, progress, status, result, cancel, state: "waiting", abort: null };
}

function finish(entry, state, ...content) {
  entry.state = state;
  entry.li.dataset.state = state;
  entry.cancel.remove();
  replace(entry.result, ...content);
}

async function run(app) {
  if (running) return;
  running = true;
  try {
    for (const entry of uploads) {
      if (entry.state !== "waiting") continue;
      const limit = app.session.maxImportBytes;
      if (typeof limit === "number" && entry.file.size > limit) {
        replace(entry.status, "Not sent");
        let [size, max] = [formatBytes(entry.file.size), formatBytes(limit)];
        if (size === max) [size, max] = [`${entry.file.size} bytes`, `${limit} bytes`];
        finish(entry, "error", h("span", { class: "error-text", role: "alert" },
          `Too large: ${size} is over this server's import limit of ${max} ` +
          "(HEIMDALL_MAX_IMPORT_BYTES). Nothing was sent."));
        continue;
      }
      entry.state = "uploading";
      entry.li.dataset.state = "uploading";
      replace(entry.status, "Uploading");
      const upload = uploadBundle(entry.file, {
        validate: app.importValidate !== false,
        onProgress(loaded, total) {
          const percent = total ? Math.floor((loaded / total) * 100) : 0;
          entry.progress.value = percent;
          replace(entry.status, loaded >= total ? "Checking and storing…" : `${percent}% of ${formatBytes(total)}`);
        },
      });
      entry.abort = upload.abort;
      try {
        const created = await upload.promise;
        entry.progress.value = 100;
        replace(entry.status, "Imported");
        finish(entry, "done", "New model ",
          routeLink(["models", created.model_id], created.model_id, { class: "new-model-id", dataset: { modelId: created.model_id } }),
          ` “${created.model_name}”`);
      } catch (err) {
        replace(entry.status, "Failed");
        finish(entry, "error", h("span", { class: "error-text", role: "alert" }, err.message));
      }
    }
  } finally {
    running = false;
  }
}

function add(app, files, list) {
  for (const file of files) {
    const entry = item(file);
    entry.cancel.addEventListener("click", () => {
      if (entry.abort) entry.abort();
      else if (entry.state === "waiting") {
        replace(entry.status, "Cancelled");
        finish(entry, "cancelled");
      }
    });
    uploads.push(entry);
    list.append(entry.li);
  }
  run(app);
}

export async function render(app, view) {
  const admin = app.session.role === "admin";
  const input = h("input", {
    type: "file", id: "import-files", multiple: true, disabled: !admin,
    accept: ".heimdall,.json,.zst,.gz,application/json,application/zstd,application/gzip",
  });
  const validate = h("input", { type: "checkbox", id: "import-validate", checked: app.importValidate !== false });
  validate.addEventListener("change", () => { app.importValidate = validate.checked; });
  const list = h("ol", { class: "uploads", id: "uploads", "aria-live": "polite" });
  for (const entry of uploads) list.append(entry.li);
  const clear = h("button", { type: "button", id: "clear-finished" }, "Clear finished");
  clear.addEventListener("click", () => {
    for (let i = uploads.length - 1; i >= 0; i -= 1) {
      if (uploads[i].state !== "waiting" && uploads[i].state !== "uploading") {
        uploads[i].li.remove();
        uploads.splice(i, 1);
      }
    }
  });
  const zone = h("div", { class: "dropzone", id: "dropzone" },
    h("p", {}, "Drop .heimdall files here, or"),
    h("div", { class: "field" }, h("label", { for: "import-files" }, "Choose bundle files"), input));
  input.addEventListener("change", () => {
    add(app, [...input.files], list);
    input.value = "";
  });
  if (admin) {
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("dragging");
      const files = [...((e.dataTransfer && e.dataTransfer.files) || [])];
      if (files.length) add(app, files, list);
    });
  }
  replace(view.main,
    h("h1", { tabindex: "-1" }, "Import"),
    admin ? null : h("p", { class: "warning", role: "note" }, "Importing needs an admin API key."),
    zone,
    h("div", { class: "check" }, validate,
      h("label", { for: "import-validate" }, "Check each model with onnx.checker (slower, safer)")),
    list, clear);
}
