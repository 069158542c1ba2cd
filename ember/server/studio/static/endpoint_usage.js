/* A language-model endpoint's token usage: polls the endpoint (its "usage": requests, prompt
   and completion tokens per key, cumulative) every few seconds; charts the totals per key and
   tokens per minute over time (the change between two readings). */
"use strict";
(function () {
  const endpoint = Ember.data("endpoint-data");
  // a serverless endpoint carries its usage; an online one answers it at .../usage
  const serverless = endpoint.kind === "serverless";
  const path = Ember.ws((serverless ? "/serverless-endpoints/" : "/online-endpoints/") +
                        encodeURIComponent(endpoint.name) + (serverless ? "" : "/usage"));
  const PERIOD_MS = 3000;
  const KEEP = 400;
  const points = { rateT: [], promptRate: [], completionRate: [] };
  let current = {};   // the latest usage per key
  let last = null;

  // at least a minute wide, so the first points are not spread over milliseconds; a new
  // datarevision, since the series grow in place (Plotly.react compares by reference)
  const layout = (title, unit, first) => ({
    title: { text: title, font: { size: 15 } }, margin: { l: 56, r: 16, t: 40, b: 40 },
    xaxis: { type: "date", tickformat: "%H:%M:%S",
             range: [new Date(Math.min(first || Date.now(), Date.now() - 60000)), new Date(Date.now() + 3000)] },
    yaxis: { title: { text: unit }, rangemode: "tozero" },
    legend: { orientation: "h" }, height: 300, datarevision: Date.now(),
  });
  const config = { displaylogo: false, responsive: true };

  function totals(usage) {
    let prompt = 0, completion = 0;
    for (const counts of Object.values(usage || {})) {
      prompt += counts.prompt_tokens || 0;
      completion += counts.completion_tokens || 0;
    }
    return { prompt, completion };
  }

  function push(key, value) {
    points[key].push(value);
    if (points[key].length > KEEP) points[key].shift();
  }

  function record(usage, at) {
    const now = totals(usage);
    current = usage || {};
    if (last) {
      const minutes = (at - last.at) / 60000;
      push("rateT", new Date(at));
      push("promptRate", Math.max(0, now.prompt - last.prompt) / minutes);
      push("completionRate", Math.max(0, now.completion - last.completion) / minutes);
    }
    last = { at, prompt: now.prompt, completion: now.completion };
  }

  function table(usage) {
    const body = document.querySelector("#usage-table tbody");
    body.replaceChildren();
    const keys = Object.keys(usage || {}).sort();
    if (!keys.length) {
      body.append(Ember.el("tr", {}, [Ember.el("td", { colspan: "4", class: "muted", text: "No requests yet." })]));
    }
    for (const key of keys) {
      const c = usage[key];
      body.append(Ember.el("tr", {}, [Ember.el("th", { scope: "row", text: key }),
        Ember.el("td", { class: "num", text: String(c.requests) }),
        Ember.el("td", { class: "num", text: String(c.prompt_tokens) }),
        Ember.el("td", { class: "num", text: String(c.completion_tokens) })]));
    }
  }

  function draw() {
    const line = (x, y, name) => ({ x, y, name, type: "scatter", mode: "lines+markers" });
    const keys = Object.keys(current).sort();
    const bar = (kind, name) => ({ x: keys, y: keys.map((k) => current[k][kind + "_tokens"]), name, type: "bar" });
    Plotly.react("chart-tokens", [bar("prompt", "prompt"), bar("completion", "completion")], {
      title: { text: "Tokens by key (total)", font: { size: 15 } }, barmode: "group", height: 300,
      margin: { l: 56, r: 16, t: 40, b: 40 }, yaxis: { title: { text: "tokens" } },
      xaxis: { type: "category" }, legend: { orientation: "h" }, datarevision: Date.now(),
    }, config);
    Plotly.react("chart-token-rate", [line(points.rateT, points.promptRate, "prompt"),
      line(points.rateT, points.completionRate, "completion")],
      layout("Tokens per minute", "tokens/min", (points.rateT[0] || new Date()).getTime()), config);
  }

  async function poll() {
    try {
      const found = await Ember.api("GET", path);
      const usage = serverless ? found.usage : found;
      record(usage, Date.now());
      table(usage);
      draw();
    } catch (err) {
      Ember.notice("Could not read the usage: " + err.message, "bad");
    }
  }

  record(endpoint.usage, Date.now());
  table(endpoint.usage);
  draw();
  setInterval(poll, PERIOD_MS);
})();
