/* The prompt flow pages: create a flow, save a node (its file and its inputs in
   flow.dag.yaml), add and remove nodes, run a test (a one-line flow-run job: each node's
   output from the run's details, its trace from the MLflow trace route), submit batch and
   evaluation runs. Everything goes through the REST API. */
"use strict";
(function () {
  const flow = Ember.data("flow-data") || {};
  const errorBox = document.getElementById("form-error");
  const flowPath = (tail) => Ember.ws("/flows/" + encodeURIComponent(flow.name || "") + (tail || ""));
  const TERMINAL = ["Completed", "Failed", "Canceled"];

  function fail(error) {
    const text = error.message || String(error);
    if (errorBox) errorBox.textContent = text; else Ember.notice(text, "bad");
  }

  function clearError() { if (errorBox) errorBox.textContent = ""; }

  // "name: value" lines → an object; a value that parses as JSON is taken as JSON (numbers,
  // booleans), else as the text (references like ${inputs.x} included).
  function pairs(text) {
    const out = {};
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line) continue;
      const at = line.indexOf(":");
      if (at < 1) throw new Error("Write each entry as name: value (\"" + line + "\")");
      out[line.slice(0, at).trim()] = literal(line.slice(at + 1).trim());
    }
    return out;
  }

  function literal(text) {
    if (text.startsWith("${")) return text;
    try { return JSON.parse(text); } catch (e) { return text; }
  }

  function typed(value, type) {
    if (type === "int" || type === "double") return value === "" ? value : Number(value);
    if (type === "bool") return value === "true";
    if (type === "list" || type === "object") { try { return JSON.parse(value); } catch (e) { return value; } }
    return value;
  }

  async function busy(button, work) {
    clearError();
    if (button) button.disabled = true;
    try { await work(); } catch (error) { fail(error); } finally { if (button) button.disabled = false; }
  }

  // --- the flow list: a new flow ---------------------------------------------------------
  const newFlow = document.getElementById("new-flow");
  if (newFlow) newFlow.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = document.getElementById("new-flow-name").value.trim();
    busy(newFlow.querySelector("button"), async () => {
      await Ember.api("POST", Ember.ws("/flows"), { name, template: document.getElementById("new-flow-template").value });
      location.href = location.pathname + "/" + encodeURIComponent(name);
    });
  });

  const upload = document.getElementById("upload-flow");
  if (upload) upload.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = document.getElementById("upload-flow-name").value.trim();
    busy(upload.querySelector("button"), async () => {
      const files = {};
      for (const file of document.getElementById("upload-flow-folder").files) {
        // the folder's own name comes first in a folder upload's paths
        const path = (file.webkitRelativePath || file.name).split("/").slice(1).join("/") || file.name;
        if (path.split("/").some((part) => part.startsWith(".") || part === "__pycache__")) continue;
        files[path] = await file.text();
      }
      await Ember.api("POST", Ember.ws("/flows"), { name, files });
      location.href = location.pathname + "/" + encodeURIComponent(name);
    });
  });

  // --- the node editor -------------------------------------------------------------------
  const editor = document.getElementById("node-editor");
  if (editor) {
    editor.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(document.getElementById("save-node"), async () => {
        const code = document.getElementById("node-code");
        if (code && flow.source) {
          await Ember.api("PUT", flowPath("/files/" + flow.source.split("/").map(encodeURIComponent).join("/")),
                          { content: code.value });
        }
        const inputs = {};
        for (const input of editor.querySelectorAll(".node-input")) inputs[input.dataset.key] = literal(input.value);
        const change = flow.variant ? { inputs, variant: flow.variant } : { inputs };
        await Ember.api("PATCH", flowPath("/nodes/" + encodeURIComponent(flow.node)), change);
        Ember.notice("Node " + flow.node + " saved.", "ok");
      });
    });
    const remove = document.getElementById("remove-node");
    if (remove) remove.addEventListener("click", () => busy(remove, async () => {
      await Ember.api("DELETE", flowPath("/nodes/" + encodeURIComponent(flow.node)));
      location.href = location.pathname;
    }));
  }

  const fileEditor = document.getElementById("file-editor");
  if (fileEditor && document.getElementById("save-file")) fileEditor.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(document.getElementById("save-file"), async () => {
      await Ember.api("PUT", flowPath("/files/" + flow.file.split("/").map(encodeURIComponent).join("/")),
                      { content: document.getElementById("file-text").value });
      Ember.notice(flow.file + " saved.", "ok");
    });
  });

  const deleteFlow = document.getElementById("delete-flow");
  if (deleteFlow) deleteFlow.addEventListener("click", () => busy(deleteFlow, async () => {
    await Ember.api("DELETE", flowPath());
    location.href = location.pathname.replace(/\/[^/]*$/, "");
  }));

  const addNode = document.getElementById("add-node");
  if (addNode) addNode.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(addNode.querySelector("button"), async () => {
      const name = document.getElementById("add-node-name").value.trim();
      await Ember.api("POST", flowPath("/nodes"), {
        name, type: document.getElementById("add-node-type").value,
        inputs: pairs(document.getElementById("add-node-inputs").value) });
      location.href = location.pathname + "?node=" + encodeURIComponent(name);
    });
  });

  // --- runs ------------------------------------------------------------------------------
  async function waitFor(job) {
    let delay = 300;
    for (;;) {
      const now = await Ember.api("GET", Ember.ws("/jobs/" + encodeURIComponent(job)));
      if (TERMINAL.includes(now.status)) return now;
      await new Promise((done) => setTimeout(done, delay));
      delay = Math.min(delay * 1.5, 2000);
    }
  }

  async function runFile(job, path) {
    return Ember.api("GET", Ember.ws("/jobs/" + encodeURIComponent(job) + "/files/" + path + "?output=flow_outputs"));
  }

  function show(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function nodeTable(line) {
    const body = Ember.el("tbody");
    for (const [name, run] of Object.entries(line.node_runs || {})) {
      const status = Ember.el("span", { class: "badge " + (run.status === "Completed" ? "ok" : run.status === "Failed" ? "bad" : "idle"), text: run.status });
      body.append(Ember.el("tr", { "data-node": name }, [
        Ember.el("th", { scope: "row", text: name }), Ember.el("td", {}, [status]),
        Ember.el("td", {}, [Ember.el("code", { text: run.error ? run.error.message : show(run.output) })]),
        Ember.el("td", { class: "num", text: (run.duration * 1000).toFixed(1) + " ms" })]));
    }
    return Ember.el("table", { class: "grid", id: "node-outputs" }, [
      Ember.el("caption", { text: "Each node's output" }),
      Ember.el("thead", {}, [Ember.el("tr", {}, ["Node", "Status", "Output", "Took"].map((h) => Ember.el("th", { scope: "col", text: h })))]),
      body]);
  }

  function attribute(span, key) {
    const found = (span.attributes || []).find((a) => a.key === key);
    if (!found) return "";
    const v = found.value || {};
    return v.string_value !== undefined ? v.string_value : JSON.stringify(v);
  }

  async function traceList(traceId) {
    const list = Ember.el("ol", { class: "trace", id: "trace", "aria-label": "Trace" });
    try {
      const path = "/workspaces/" + encodeURIComponent(document.body.dataset.workspace) +
        "/api/3.0/mlflow/traces/get?trace_id=tr-" + encodeURIComponent(traceId);
      const answer = await Ember.api("GET", path);
      const spans = answer.trace.spans.slice().sort((a, b) => Number(a.start_time_unix_nano) - Number(b.start_time_unix_nano));
      for (const span of spans) {
        const took = (Number(span.end_time_unix_nano) - Number(span.start_time_unix_nano)) / 1e6;
        list.append(Ember.el("li", {}, [Ember.el("strong", { text: span.name }),
          " " + attribute(span, "mlflow.spanType") + " · " + took.toFixed(2) + " ms · " +
          ((span.status || {}).code || "").replace("STATUS_CODE_", "")]));
      }
    } catch (error) {
      list.append(Ember.el("li", { class: "muted", text: "No trace: " + error.message }));
    }
    return list;
  }

  const test = document.getElementById("test-run");
  if (test && document.getElementById("run-test")) test.addEventListener("submit", (event) => {
    event.preventDefault();
    const result = document.getElementById("test-result");
    busy(document.getElementById("run-test"), async () => {
      const line = {};
      for (const input of test.querySelectorAll(".test-input")) line[input.dataset.key] = typed(input.value, input.dataset.type);
      result.replaceChildren(Ember.el("p", { class: "muted", text: "Running…" }));
      const job = await Ember.api("POST", flowPath("/runs"), { lines: [line], display_name: "studio test" });
      const done = await waitFor(job.name);
      const details = String(await runFile(job.name, "details.jsonl").catch(() => "")).split("\n").filter((x) => x.trim()).map((x) => JSON.parse(x));
      const first = details[0];
      const heading = Ember.el("h3", { id: "test-status", text: "Test run " + job.name + ": " + (first ? first.status : done.status) });
      if (!first) { result.replaceChildren(heading, Ember.el("p", { class: "error-text", text: done.error || "The run wrote no result; see the job's log." })); return; }
      const parts = [heading, Ember.el("p", {}, ["Flow outputs: ", Ember.el("code", { id: "test-outputs", text: JSON.stringify(first.outputs) })])];
      if (first.error) parts.push(Ember.el("p", { class: "error-text", text: first.error.message }));
      parts.push(nodeTable(first), Ember.el("h3", { text: "Trace" }));
      if (first.trace_id) parts.push(await traceList(first.trace_id));
      result.replaceChildren(...parts);
    });
  });

  const batch = document.getElementById("batch-run");
  if (batch) batch.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(batch.querySelector("button[type=submit]"), async () => {
      const body = {};
      const data = document.getElementById("batch-data").value;
      const text = document.getElementById("batch-lines").value.trim();
      if (data) body.data = data;
      else if (text) body.lines = text.split("\n").filter((x) => x.trim()).map((x, i) => {
        try { return JSON.parse(x); } catch (e) { throw new Error("Line " + (i + 1) + " is not JSON: " + e.message); }
      });
      const base = document.getElementById("batch-base").value;
      if (base) body.run = base;
      const mapping = document.getElementById("batch-mapping").value;
      if (mapping.trim()) body.column_mapping = pairs(mapping);
      const variant = document.getElementById("batch-variant");
      if (variant && variant.value) body.variant = variant.value;
      const name = document.getElementById("batch-name").value.trim();
      if (name) body.display_name = name;
      const job = await Ember.api("POST", flowPath("/runs"), body);
      await waitFor(job.name);
      location.href = location.pathname + "?run=" + encodeURIComponent(job.name);
    });
  });
})();
