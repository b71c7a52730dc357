// Talking to the heimdall-io API: the key (kept for this tab only, in sessionStorage),
// JSON requests, uploads with progress, and errors as readable messages.

const KEY_ITEM = "heimdall.apiKey";
export const MODELS = "/api/v1/training/models";

/** An API failure: a one-line message (the server's "detail"), never a raw body. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_ITEM) || "";
  } catch {
    return "";
  }
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

function authHeaders(key = getKey()) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** The message of an error response: its {"detail": "..."}, or its status line. */
export function messageOf(status, statusText, text) {
  let detail = "";
  try {
    const body = JSON.parse(text);
    if (body && typeof body.detail === "string") detail = body.detail;
  } catch {
    // not JSON: a proxy's page, an empty body
  }
  if (!detail) {
    detail = status ? `The server answered ${status} ${statusText || ""}`.trim() : "No answer";
  }
  return detail.length > 500 ? detail.slice(0, 500) + "…" : detail;
}

async function errorOf(response) {
  const text = await response.text().catch(() => "");
  return new ApiError(response.status, messageOf(response.status, response.statusText, text));
}

/** A request to the API: the response if it is a success, else ApiError. */
async function request(path, { method = "GET", query = null, key } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams(query).toString();
    if (params) url += "?" + params;
  }
  let response;
  try {
    response = await fetch(url, { method, headers: authHeaders(key), cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, `The server cannot be reached (${err.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** A JSON request to the API; ApiError on failure. */
export async function api(path, options = {}) {
  return (await request(path, options)).json();
}

/** What the server says about a key: {role, keys_required, max_import_bytes}. */
export function fetchRole(key) {
  return api("/api/v1/auth/role", { key });
}

/**
 * One page of the list: {items, more}. The server pages with ?limit=&offset= and names
 * the next page in a `Link: <...>; rel="next"` header; without one, this was the last
 * page (a server that does not page answers with every model at once).
 */
export async function listModels(limit, offset) {
  const response = await request(MODELS, { query: { limit, offset } });
  const body = await response.json();
  const more = /;\s*rel="?next"?/.test(response.headers.get("Link") || "");
  const items = Array.isArray(body) ? body : body && Array.isArray(body.items) ? body.items : [];
  return { items, more };
}

export function getModel(id) {
  return api(`${MODELS}/${encodeURIComponent(id)}`);
}

export function deleteModel(id) {
  return api(`${MODELS}/${encodeURIComponent(id)}`, { method: "DELETE" });
}

export function auditHistory(limit) {
  return api("/api/v1/training/audit", { query: { limit } });
}

/** A short-lived URL that downloads the export (no Authorization header needed). */
export function downloadLink(id, options) {
  return api(`${MODELS}/${encodeURIComponent(id)}/download-link`, {
    method: "POST",
    query: options,
  });
}

/**
 * Upload one bundle file as the raw request body (the browser streams it from disk).
 * Returns {promise, abort}; onProgress(loaded, total) while it is sent.
 */
export function uploadBundle(file, { validate = true, onProgress = () => {} } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", `${MODELS}/import${validate ? "" : "?validate=false"}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => {
      onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "The server's answer was not understood"));
        }
      } else {
        reject(new ApiError(xhr.status, messageOf(xhr.status, xhr.statusText, xhr.responseText)));
      }
    });
    xhr.addEventListener("error", () => {
      reject(new ApiError(0, "The upload was cut off: the server closed the connection"));
    });
    xhr.addEventListener("abort", () => reject(new ApiError(0, "Upload cancelled")));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
