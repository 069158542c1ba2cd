/* The job page's Metrics tab: one plotly chart a metric (the server sends each series
   already downsampled), with smoothing, log scale, the x axis and combined charts; the
   settings live in the address (?smooth=&log=&x=&combine=) so the view can be shared. */
"use strict";
(function () {
  const data = Ember.data("metric-data");
  if (!data) return;
  const form = document.getElementById("metric-controls");
  const box = document.getElementById("charts");
  let byKey = new Map(data.series.map((s) => [s.key, s]));

  function settings() {
    const combine = Array.from(form.querySelectorAll('input[name="combine"]:checked')).map((c) => c.value);
    return {
      smooth: Number(form.smooth.value),
      log: form.log.checked,
      x: form.x.value,
      combine,
    };
  }

  function load() {
    const q = new URLSearchParams(location.search);
    const smooth = Math.min(Math.max(Number(q.get("smooth") || 0), 0), 0.99);
    form.smooth.value = String(smooth);
    form.log.checked = q.get("log") === "1";
    if (["step", "wall", "relative"].includes(q.get("x"))) form.x.value = q.get("x");
    const combine = (q.get("combine") || "").split(",").filter((k) => byKey.has(k));
    for (const c of form.querySelectorAll('input[name="combine"]')) c.checked = combine.includes(c.value);
  }

  function save(s) {
    const q = new URLSearchParams(location.search);
    const put = (k, v, dflt) => (v === dflt ? q.delete(k) : q.set(k, v));
    put("smooth", String(s.smooth), "0");
    put("log", s.log ? "1" : "0", "0");
    put("x", s.x, "step");
    put("combine", s.combine.join(","), "");
    const text = q.toString();
    history.replaceState(null, "", location.pathname + (text ? "?" + text : ""));
  }

  // Exponential moving average, debiased at the start as TensorBoard does.
  function smoothed(values, weight) {
    const out = new Array(values.length);
    let last = 0, n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      n += 1;
      last = last * weight + (1 - weight) * v;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  function xs(s, mode) {
    if (mode === "wall") return s.timestamp.map((t) => new Date(t));
    if (mode === "relative") return s.timestamp.map((t) => (t - data.start_ms) / 1000);
    return s.step;
  }

  function traces(keys, s) {
    const out = [];
    keys.forEach((key, i) => {
      const series = byKey.get(key);
      const x = xs(series, s.x);
      const colour = COLOURS[i % COLOURS.length];
      if (s.smooth > 0) {
        out.push({ x, y: series.value, name: key + " (raw)", mode: "lines", type: "scatter",
                   line: { color: colour, width: 1 }, opacity: 0.3, showlegend: false,
                   hoverinfo: "skip" });
        out.push({ x, y: smoothed(series.value, s.smooth), name: key, mode: "lines",
                   type: "scatter", line: { color: colour, width: 2 } });
      } else {
        out.push({ x, y: series.value, name: key, mode: series.value.length > 1 ? "lines" : "markers",
                   type: "scatter", line: { color: colour, width: 2 } });
      }
    });
    return out;
  }

  const COLOURS = ["#0b57d0", "#b3261e", "#146c2e", "#7a4100", "#6750a4", "#00639b"];
  const X_TITLES = { step: "step", wall: "time", relative: "seconds since start" };

  function chart(id, title, keys, s) {
    let node = document.getElementById(id);
    if (!node) {
      node = Ember.el("div", { id, class: "chart", role: "img", "aria-label": "Chart of " + title });
      box.append(node);
    }
    node.dataset.keys = keys.join(",");
    const layout = {
      title: { text: title, font: { size: 14 } }, height: 300,
      margin: { l: 60, r: 20, t: 40, b: 45 },
      xaxis: { title: { text: X_TITLES[s.x] }, type: s.x === "wall" ? "date" : "linear" },
      yaxis: { type: s.log ? "log" : "linear" },
      showlegend: keys.length > 1, legend: { orientation: "h" },
    };
    Plotly.react(node, traces(keys, s), layout, { displaylogo: false, responsive: true });
    return node;
  }

  function draw() {
    const s = settings();
    save(s);
    document.getElementById("smoothing-value").textContent = s.smooth.toFixed(2);
    const wanted = new Set();
    if (s.combine.length > 1) {
      chart("chart-combined", s.combine.join(" · "), s.combine, s);
      wanted.add("chart-combined");
    }
    data.series.forEach((series, i) => {
      if (s.combine.length > 1 && s.combine.includes(series.key)) return;
      chart("chart-" + i, series.key, [series.key], s);
      wanted.add("chart-" + i);
    });
    for (const node of Array.from(box.children)) {
      if (!wanted.has(node.id)) { Plotly.purge(node); node.remove(); }
    }
    const combined = document.getElementById("chart-combined");
    if (combined) box.prepend(combined);
  }

  // A running job's charts follow it: the same server-side downsampled call every few
  // seconds, until the job has ended (new metric keys show after a reload).
  const FOLLOW_MS = 3000;
  const ENDED = ["Completed", "Failed", "Canceled"];

  function note() {
    const parts = data.series.map((s) => s.key + ": " + s.total.toLocaleString("en-US") + " points" +
      (s.total > s.step.length ? ", " + s.step.length.toLocaleString("en-US") + " shown (lowest and highest of each stretch kept)" : ""));
    document.getElementById("sampling-note").textContent = parts.join(" · ");
  }

  async function follow() {
    const job = encodeURIComponent(data.job);
    while (data.running) {
      await new Promise((done) => setTimeout(done, FOLLOW_MS));
      const [fresh, status] = await Promise.all([
        Ember.api("GET", Ember.ws("/jobs/" + job + "/metrics?max_points=" + data.max_points)),
        Ember.api("GET", Ember.ws("/jobs/" + job)),
      ]);
      data.series = fresh.metrics.filter((s) => byKey.has(s.key));
      byKey = new Map(data.series.map((s) => [s.key, s]));
      data.running = !ENDED.includes(status.status);
      note();
      draw();
      box.dataset.updated = String(Number(box.dataset.updated || 0) + 1);
    }
    box.dataset.followed = "done";
  }

  load();
  form.addEventListener("input", draw);
  form.addEventListener("change", draw);
  form.addEventListener("submit", (e) => e.preventDefault());
  draw();
  follow().catch((err) => Ember.notice("The charts stopped updating: " + err.message, "bad"));
})();
