// The /docs page: reads /openapi.json and lists every route with its fields, types, defaults and
// limits, plus a curl line to copy. Works offline: no external scripts or styles.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];
let spec = null;
let needsKey = false;  // from /v1/info: the curl lines then carry the bearer header

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function resolve(schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 20) {
    const parts = schema.$ref.replace(/^#\//, "").split("/");
    schema = parts.reduce((node, key) => (node ? node[key] : undefined), spec);
  }
  return schema || {};
}

function refName(schema) {
  return schema && schema.$ref ? schema.$ref.split("/").pop() : null;
}

// A short, readable type: "string", "integer | null", "array of bytes", "wav | mp3 | ...".
function typeText(schema) {
  if (!schema) return "any";
  const name = refName(schema);
  schema = resolve(schema);
  const variants = schema.anyOf || schema.oneOf;
  if (variants) return variants.map(typeText).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `array of ${typeText(schema.items)}`;
  if (schema.type === "string" && schema.format === "byte") return "bytes";
  if (schema.type === "object" && schema.properties) return name || "object";
  return schema.type || name || "any";
}

function limitsText(schema) {
  schema = resolve(schema);
  const parts = [];
  for (const variant of schema.anyOf || [schema]) {
    const v = resolve(variant);
    if (v.minimum != null && v.maximum != null) parts.push(`${v.minimum} … ${v.maximum}`);
    else if (v.minimum != null) parts.push(`≥ ${v.minimum}`);
    else if (v.maximum != null) parts.push(`≤ ${v.maximum}`);
  }
  return parts.join(", ");
}

function defaultText(schema) {
  return schema && "default" in schema ? JSON.stringify(schema.default) : "";
}

// Fields of an object schema as a table; nested objects (array items too) get their own table.
function fieldsTable(schema, depth = 0) {
  schema = resolve(schema);
  const props = schema.properties || {};
  const names = Object.keys(props);
  if (!names.length) return el("p", { class: "hint" }, "Any JSON object.");
  const required = new Set(schema.required || []);
  const body = el("tbody");
  for (const name of names) {
    const prop = props[name];
    const target = resolve(prop.type === "array" ? resolve(prop).items : prop);
    const nested = depth < 2 && target && target.properties ? fieldsTable(target, depth + 1) : null;
    body.appendChild(el("tr", { "data-field": name },
      el("td", {}, el("code", {}, name), required.has(name) ? el("span", { class: "req" }, " required") : null),
      el("td", {}, typeText(prop)),
      el("td", {}, defaultText(prop)),
      el("td", {}, limitsText(prop)),
      el("td", {}, resolve(prop).description || "")));
    if (nested) body.appendChild(el("tr", { class: "nested" }, el("td", {}, ""), el("td", { colspan: "4" }, nested)));
  }
  return el("table", { class: "fields" },
    el("thead", {}, el("tr", {}, ["field", "type", "default", "range", "meaning"].map((h) => el("th", {}, h)))),
    body);
}

function exampleValue(schema) {
  schema = resolve(schema);
  if ("default" in schema && schema.default !== null) return schema.default;
  const type = (schema.anyOf ? resolve(schema.anyOf[0]) : schema).type;
  return { string: "…", integer: 0, number: 0, boolean: false, array: [], object: {} }[type] ?? null;
}

function curlLine(method, path, op) {
  const url = `${location.origin}${path.replace(/\{(\w+)(:\w+)?\}/g, (_, name) => `<${name}>`)}`;
  const parts = [`curl -X ${method.toUpperCase()} '${url}'`];
  const content = op.requestBody && op.requestBody.content;
  const schema = content && content["application/json"] && resolve(content["application/json"].schema);
  if (schema) {
    const example = {};
    for (const name of schema.required || []) example[name] = exampleValue(schema.properties[name]);
    if (path === "/v1/tts" || path === "/v1/audio/speech") example[path === "/v1/tts" ? "text" : "input"] = "Hello world.";
    parts.push("-H 'Content-Type: application/json'", `-d '${JSON.stringify(example)}'`);
  }
  const ok = (op.responses || {})["200"];
  if (ok && ok.content && Object.keys(ok.content).some((t) => t.startsWith("audio/"))) {
    parts.push(`-o speech.${path === "/v1/audio/speech" ? "mp3" : "wav"}`);  // each route's default format
  }
  if (needsKey && path.startsWith("/v1/") && !/^\/v1\/(health|info)$/.test(path)) {
    parts.push("-H \"Authorization: Bearer $FISH_API_KEY\"");
  }
  return parts.join(" \\\n     ");
}

function operation(method, path, op) {
  const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
  const card = el("section", { class: "card op", id, "data-route": `${method.toUpperCase()} ${path}` },
    el("h3", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), " ", el("code", {}, path)),
    el("p", {}, op.summary || ""),
    op.description ? el("p", { class: "hint" }, op.description) : null);

  const params = op.parameters || [];
  if (params.length) {
    card.appendChild(el("h4", {}, "Parameters"));
    card.appendChild(el("table", { class: "fields" }, el("tbody", {}, params.map((p) =>
      el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, `in ${p.in}`),
         el("td", {}, typeText(p.schema)), el("td", {}, p.description || (p.required ? "required" : "")))))));
  }

  const rb = op.requestBody;
  if (rb && rb.content) {
    const types = Object.keys(rb.content);
    card.appendChild(el("h4", {}, "Request body ", el("span", { class: "hint" }, types.join(", "))));
    if (rb.description) card.appendChild(el("p", { class: "hint" }, rb.description));
    card.appendChild(fieldsTable(rb.content[types[0]].schema));
  }

  const responses = Object.entries(op.responses || {});
  if (responses.length) {
    card.appendChild(el("h4", {}, "Responses"));
    card.appendChild(el("ul", { class: "responses" }, responses.map(([status, r]) =>
      el("li", {}, el("code", {}, status), " ", r.description || "",
         r.content ? el("span", { class: "hint" }, ` (${Object.keys(r.content).join(", ")})`) : null))));
  }
  card.appendChild(el("pre", { class: "curl" }, curlLine(method, path, op)));
  return { id, card };
}

async function main() {
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new Error(`/openapi.json answered HTTP ${response.status}`);
    spec = await response.json();
    const info = await fetch("/v1/info").then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
    needsKey = !!info.auth;
  } catch (e) {
    const box = document.getElementById("docs-error");
    box.textContent = `cannot load the API description: ${e.message}`;
    box.hidden = false;
    return;
  }
  document.getElementById("api-version").textContent = `v${spec.info.version}`;
  document.getElementById("api-description").textContent = spec.info.description || "";

  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ["other"])[0];
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push([method, path, item[method]]);
    }
  }
  const order = ["speech", "voices", "codec", "agent", "meta"];  // the main routes first
  const rank = (tag) => (order.includes(tag) ? order.indexOf(tag) : order.length);
  const sorted = [...groups].sort((a, b) => rank(a[0]) - rank(b[0]));
  const toc = document.getElementById("toc-list"), ops = document.getElementById("operations");
  toc.textContent = "";
  for (const [tag, entries] of sorted) {
    const list = el("ul");
    ops.appendChild(el("h2", { class: "tag" }, tag));
    for (const [method, path, op] of entries) {
      const { id, card } = operation(method, path, op);
      ops.appendChild(card);
      list.appendChild(el("li", {}, el("a", { href: `#${id}` }, el("span", { class: `method ${method}` }, method.toUpperCase()), " ", path)));
    }
    toc.appendChild(el("h3", {}, tag));
    toc.appendChild(list);
  }
  document.body.dataset.ready = "1";
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) target.scrollIntoView();
  }
}

document.addEventListener("DOMContentLoaded", main);
