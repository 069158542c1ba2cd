/* Ember studio: the helpers every page's script uses. The page's data comes as JSON in
   <script type="application/json" id="..."> blocks; calls to the REST API carry the session
   cookie and the page's CSRF token. */
"use strict";
window.Ember = (function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function api(method, path, body, options) {
    const headers = { "X-CSRF-Token": csrf() };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, Object.assign(init, options || {}));
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try { const data = await response.json(); message = data.message || message; } catch (e) { /* not JSON */ }
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    if (response.status === 204 || response.headers.get("content-length") === "0") return null;
    const kind = response.headers.get("content-type") || "";
    return kind.startsWith("application/json") ? response.json() : response.text();
  }

  function data(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function notice(text, kind) {
    const box = document.getElementById("notice");
    if (!box) return;
    box.textContent = text;
    box.className = "notice" + (kind ? " " + kind : "");
    box.hidden = !text;
  }

  function ws(path) {
    const name = document.body.dataset.workspace || (location.pathname.split("/")[2] || "default");
    return "/api/v1/workspaces/" + encodeURIComponent(decodeURIComponent(name)) + path;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  return { api, data, notice, ws, el, csrf };
})();
