// Building the DOM without HTML strings. Every text goes in as a text node, every
// attribute through setAttribute: metadata (model names, descriptions, ...) is hostile
// input and never parsed as markup. The page's Content-Security-Policy requires Trusted
// Types, so assigning an HTML string to an element would throw anyway.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttributes(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** Append children: nodes as they are, anything else as text. */
export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("a", {href: "#/x"}, "text", otherNode). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  return append(el, children);
}

/** An SVG element. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttributes(el, attrs);
  return append(el, children);
}

/** Replace the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uniqueCounter = 0;
/** An id unique in this page, for label/for and aria-describedby pairs. */
export function uniqueId(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A link to a page of this app (the route is built from encoded parts). */
export function routeLink(parts, text, attrs = {}) {
  const href = "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
  return h("a", { ...attrs, href }, text);
}

/** A table: headers (strings or nodes) and rows (arrays of cells). */
export function table(caption, headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((c) => h("td", {}, c))))),
  );
}

/** A two-column key/value table (th scope=row). */
export function keyValueTable(caption, pairs, attrs = {}) {
  return h(
    "table",
    { class: "kv", ...attrs },
    caption ? h("caption", {}, caption) : null,
    h("tbody", {}, pairs.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))),
  );
}
