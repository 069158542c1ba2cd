/* The compare page: one chart per metric (a line per job), the table's "hide equal columns"
   toggle and the scatter of any two values; the choices go to the URL (?hide_equal, ?x, ?y). */
"use strict";
(function () {
  const data = Ember.data("compare-data");
  if (!data) return;
  const colours = {};
  const labels = {};
  for (const job of data.jobs) { colours[job.id] = job.colour; labels[job.id] = job.label; }
  const config = { responsive: true, displaylogo: false };
  const base = { margin: { l: 56, r: 16, t: 36, b: 80 },
    legend: { orientation: "h", x: 0, y: -0.32, yanchor: "top" },
    font: { family: "system-ui, sans-serif", size: 12 } };

  function setParam(key, value) {
    const url = new URL(location.href);
    if (value === null) url.searchParams.delete(key); else url.searchParams.set(key, value);
    history.replaceState(null, "", url);
  }

  for (const node of document.querySelectorAll(".chart[data-metric]")) {
    const key = node.dataset.metric;
    const lines = data.series[key] || {};
    const traces = data.jobs.filter((j) => lines[j.id]).map((j) => ({
      type: "scatter", mode: lines[j.id].step.length > 1 ? "lines" : "markers",
      name: j.label, x: lines[j.id].step, y: lines[j.id].value,
      line: { color: j.colour }, marker: { color: j.colour },
    }));
    Plotly.newPlot(node, traces, Object.assign({}, base, {
      title: { text: key, font: { size: 14 } },
      xaxis: { title: { text: "step" } }, yaxis: { automargin: true },
    }), config);
  }

  const table = document.getElementById("diff");
  const toggle = document.getElementById("hide-equal");
  if (table && toggle) {
    toggle.addEventListener("change", () => {
      table.classList.toggle("hide-equal", toggle.checked);
      setParam("hide_equal", toggle.checked ? "1" : null);
    });
  }

  const xs = document.getElementById("scatter-x");
  const ys = document.getElementById("scatter-y");
  const scatter = document.getElementById("scatter");
  if (!xs || !ys || !scatter) return;
  const byId = {};
  for (const c of data.columns) byId[c.id] = c;
  // defaults: the first param against the first metric's last value
  const firstMetric = data.columns.find((c) => c.id.startsWith("metric:"));
  if (!new URL(location.href).searchParams.get("x") && data.columns.length) xs.value = data.columns[0].id;
  if (!new URL(location.href).searchParams.get("y") && firstMetric) ys.value = firstMetric.id;

  function value(column, id) {
    const v = (data.values[column] || {})[id];
    if (v === null || v === undefined) return null;
    return byId[column] && byId[column].numeric ? Number(v) : String(v);
  }

  function drawScatter() {
    const traces = data.jobs.map((j) => ({
      type: "scatter", mode: "markers+text", name: j.label, text: [j.label],
      textposition: "top center", x: [value(xs.value, j.id)], y: [value(ys.value, j.id)],
      marker: { color: j.colour, size: 12 },
    }));
    const label = (sel) => sel.options[sel.selectedIndex] ? sel.options[sel.selectedIndex].text : "";
    Plotly.react(scatter, traces, Object.assign({}, base, {
      showlegend: false,
      xaxis: { title: { text: label(xs) }, type: byId[xs.value] && byId[xs.value].numeric ? "linear" : "category" },
      yaxis: { title: { text: label(ys) }, type: byId[ys.value] && byId[ys.value].numeric ? "linear" : "category", automargin: true },
    }), config);
    scatter.dataset.x = xs.value;
    scatter.dataset.y = ys.value;
  }
  xs.addEventListener("change", () => { setParam("x", xs.value); drawScatter(); });
  ys.addEventListener("change", () => { setParam("y", ys.value); drawScatter(); });
  drawScatter();
})();
