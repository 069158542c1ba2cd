/* A monitor's page: the trend of one metric of one feature over the runs, with its threshold
   (breached runs marked), and one run's histograms of that feature, reference against
   production as shares of rows. The server chose what to chart from the address
   (?signal=&metric=&feature=&run=) and sends it in #monitor-data. */
"use strict";
(function () {
  const data = Ember.data("monitor-data");
  if (!data) return;
  const config = { displaylogo: false, responsive: true };
  const BLUE = "#0b57d0", RED = "#b3261e", GREY = "#57606a", ORANGE = "#7a4100";

  function trend() {
    const node = document.getElementById("trend-chart");
    const t = data.trend;
    if (!node || !t.time.length) return;
    const x = t.time.map((ms) => new Date(ms));
    const traces = [{
      x, y: t.value, name: data.metric, type: "scatter", mode: "lines+markers",
      line: { color: BLUE, width: 2 },
      marker: { size: 9, color: t.breached.map((b) => (b ? RED : BLUE)),
                symbol: t.breached.map((b) => (b ? "x" : "circle")) },
      text: t.job, hovertemplate: "%{text}<br>%{y:.4g}<extra></extra>",
    }];
    if (t.threshold.some((v) => v !== null)) {
      traces.push({ x, y: t.threshold, name: "threshold", type: "scatter", mode: "lines",
                    line: { color: GREY, width: 2, dash: "dash", shape: "hv" },
                    hovertemplate: "threshold %{y:.4g}<extra></extra>" });
    }
    if (data.run_time !== null) {
      // the run whose histograms are shown
      const i = t.time.indexOf(data.run_time);
      if (i >= 0) {
        traces.push({ x: [x[i]], y: [t.value[i]], name: "histogram run", type: "scatter",
                      mode: "markers", marker: { size: 16, color: "rgba(0,0,0,0)",
                      line: { color: ORANGE, width: 2 } }, hoverinfo: "skip" });
      }
    }
    const title = data.metric + (data.feature ? " · " + data.feature : "") + " (" + data.signal + ")";
    Plotly.react(node, traces, {
      title: { text: title, font: { size: 14 } }, height: 320,
      margin: { l: 60, r: 20, t: 40, b: 50 },
      xaxis: { type: "date", title: { text: "trigger time (UTC)" } },
      yaxis: { rangemode: "tozero" }, legend: { orientation: "h", y: -0.25 },
    }, config);
  }

  function shares(counts) {
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    return counts.map((c) => (100 * c) / total);
  }

  function histogram() {
    const node = document.getElementById("histogram-chart");
    const h = data.histogram;
    if (!node || !h) return;
    let x, width, text;
    if (h.bin_edges) {
      const e = h.bin_edges;
      x = e.slice(0, -1).map((v, i) => (v + e[i + 1]) / 2);
      width = e.slice(0, -1).map((v, i) => e[i + 1] - v);
      text = e.slice(0, -1).map((v, i) => "[" + v.toPrecision(4) + ", " + e[i + 1].toPrecision(4) + ")");
    } else {
      x = h.categories;
      text = h.categories;
    }
    const bar = (name, counts, colour) => ({
      type: "bar", name, x, y: shares(counts), width, marker: { color: colour },
      opacity: h.bin_edges ? 0.6 : 1, customdata: counts, text, textposition: "none",
      hovertemplate: name + " %{text}<br>%{y:.1f}% (%{customdata} rows)<extra></extra>",
    });
    Plotly.react(node, [bar("reference", h.reference_counts, BLUE),
                        bar("production", h.production_counts, RED)], {
      title: { text: h.feature + " (" + h.feature_type + ")", font: { size: 14 } }, height: 320,
      margin: { l: 60, r: 20, t: 40, b: 50 }, barmode: h.bin_edges ? "overlay" : "group",
      xaxis: { title: { text: h.feature }, type: h.bin_edges ? "linear" : "category" },
      yaxis: { title: { text: "% of rows" }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.25 },
    }, config);
  }

  trend();
  histogram();
})();
