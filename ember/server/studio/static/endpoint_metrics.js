/* An online endpoint's Metrics tab: polls GET .../metrics (cumulative counters and latency
   percentiles per deployment) every few seconds and charts requests/s and errors/s (the
   change between two readings) and latency p50/p95/p99 over time. */
"use strict";
(function () {
  const endpoint = Ember.data("endpoint-data");
  const path = Ember.ws("/online-endpoints/" + encodeURIComponent(endpoint.name) + "/metrics");
  const PERIOD_MS = 2000;
  const KEEP = 300;   // points per series: ten minutes at one reading every two seconds
  const series = {};  // deployment -> {t, requests, errors, p50, p95, p99}
  let last = null;    // the previous reading: {at, metrics}

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

  function push(list, value) {
    list.push(value);
    if (list.length > KEEP) list.shift();
  }

  function record(metrics, at) {
    for (const [name, m] of Object.entries(metrics)) {
      const s = series[name] || (series[name] = { t: [], requests: [], errors: [], p50: [], p95: [], p99: [] });
      const before = last && last.metrics[name];
      if (!before) continue;   // a rate needs two readings
      const seconds = (at - last.at) / 1000;
      push(s.t, new Date(at));
      push(s.requests, Math.max(0, m.request_count - before.request_count) / seconds);
      push(s.errors, Math.max(0, m.error_count - before.error_count) / seconds);
      push(s.p50, m.latency_ms_p50);
      push(s.p95, m.latency_ms_p95);
      push(s.p99, m.latency_ms_p99);
    }
    last = { at, metrics };
  }

  function table(metrics) {
    const body = document.querySelector("#metrics-table tbody");
    body.replaceChildren();
    const names = Object.keys(metrics).sort();
    if (!names.length) {
      body.append(Ember.el("tr", {}, [Ember.el("td", { colspan: "6", class: "muted", text: "No requests yet." })]));
    }
    const num = (v) => Ember.el("td", { class: "num", text: v === null || v === undefined ? "–" : String(v) });
    for (const name of names) {
      const m = metrics[name];
      body.append(Ember.el("tr", {}, [Ember.el("th", { scope: "row", text: name }), num(m.request_count),
        num(m.error_count), num(m.latency_ms_p50), num(m.latency_ms_p95), num(m.latency_ms_p99)]));
    }
  }

  function draw() {
    const names = Object.keys(series).sort();
    const first = Math.min(...names.map((n) => (series[n].t[0] || new Date()).getTime()));
    const line = (name, key, label) => ({ x: series[name].t, y: series[name][key], name: label || name,
                                          type: "scatter", mode: "lines+markers" });
    Plotly.react("chart-requests", names.map((n) => line(n, "requests")), layout("Requests", "per second", first), config);
    Plotly.react("chart-errors", names.map((n) => line(n, "errors")), layout("Errors", "per second", first), config);
    const latency = [];
    for (const n of names) for (const q of ["p50", "p95", "p99"]) latency.push(line(n, q, n + " " + q));
    Plotly.react("chart-latency", latency, layout("Latency", "ms", first), config);
  }

  async function poll() {
    try {
      const metrics = await Ember.api("GET", path);
      record(metrics, Date.now());
      table(metrics);
      draw();
    } catch (err) {
      Ember.notice("Could not read the metrics: " + err.message, "bad");
    }
  }

  const first = Ember.data("metrics-data") || {};
  record(first, Date.now());
  table(first);
  draw();
  setInterval(poll, PERIOD_MS);
})();
