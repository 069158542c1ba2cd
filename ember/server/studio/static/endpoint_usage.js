/* A language-model endpoint's token usage: every few seconds, the totals per key (requests,
   prompt and completion tokens since the router started) and the tokens of each minute of
   the last day (the router's per-minute history), as a table and two charts. */
"use strict";
(function () {
  const endpoint = Ember.data("endpoint-data");
  // a serverless endpoint carries its usage; an online one answers it at .../usage
  const serverless = endpoint.kind === "serverless";
  const base = Ember.ws((serverless ? "/serverless-endpoints/" : "/online-endpoints/") +
                        encodeURIComponent(endpoint.name));
  const PERIOD_MS = 3000;
  const config = { displaylogo: false, responsive: true };
  const margin = { l: 56, r: 16, t: 40, b: 40 };

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

  function draw(usage, history) {
    const keys = Object.keys(usage || {}).sort();
    const bar = (kind, name) => ({ x: keys, y: keys.map((k) => usage[k][kind + "_tokens"]), name, type: "bar" });
    Plotly.react("chart-tokens", [bar("prompt", "prompt"), bar("completion", "completion")], {
      title: { text: "Tokens by key (total)", font: { size: 15 } }, barmode: "group", height: 300,
      margin, yaxis: { title: { text: "tokens" } }, xaxis: { type: "category" },
      legend: { orientation: "h" }, datarevision: Date.now(),
    }, config);
    // each bar spans its minute (a date axis counts widths in ms)
    const at = history.map((m) => new Date(m.minute * 1000 + 30000));
    const minute = (kind, name) => ({ x: at, y: history.map((m) => m[kind + "_tokens"]), name,
                                      type: "bar", width: 50000 });
    // at least the last hour is shown, so a first minute is a bar and not the whole chart
    const now = Date.now();
    const first = at.length ? Math.min(at[0].getTime(), now - 3600000) : now - 3600000;
    Plotly.react("chart-token-rate", [minute("prompt", "prompt"), minute("completion", "completion")], {
      title: { text: "Tokens per minute", font: { size: 15 } }, barmode: "stack", height: 300, margin,
      xaxis: { type: "date", range: [new Date(first - 30000), new Date(now + 60000)] },
      yaxis: { title: { text: "tokens" }, rangemode: "tozero" }, legend: { orientation: "h" },
      datarevision: now,
    }, config);
  }

  async function poll() {
    try {
      const [found, history] = await Promise.all([
        Ember.api("GET", base + (serverless ? "" : "/usage")),
        Ember.api("GET", base + "/usage/history")]);
      const usage = serverless ? found.usage : found;
      table(usage);
      draw(usage, history);
    } catch (err) {
      Ember.notice("Could not read the usage: " + err.message, "bad");
    }
  }

  table(endpoint.usage);
  poll();
  setInterval(poll, PERIOD_MS);
})();
