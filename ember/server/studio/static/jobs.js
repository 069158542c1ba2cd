/* The job list: the column chooser (kept in localStorage; a "cols" in the URL wins, so a shared
   link shows its columns), and the Compare button (enabled from two selected jobs). */
"use strict";
(function () {
  const KEY = "ember.jobs.columns";
  const table = document.getElementById("jobs");
  const chooser = document.getElementById("columns");
  const colsField = document.getElementById("cols-field");
  if (!table || !chooser) return;
  const boxes = Array.from(chooser.querySelectorAll("input[data-col]"));

  function show(keys) {
    const wanted = new Set(keys);
    for (const box of boxes) {
      box.checked = wanted.has(box.value);
      for (const cell of table.querySelectorAll('[data-col="' + box.value + '"]')) {
        cell.hidden = !box.checked;
      }
    }
  }

  function chosen() {
    return boxes.filter((b) => b.checked).map((b) => b.value);
  }

  const url = new URL(location.href);
  if (!url.searchParams.has("cols")) {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { saved = null; }
    if (Array.isArray(saved)) show(saved);
  }

  for (const box of boxes) {
    box.addEventListener("change", () => {
      const keys = chosen();
      show(keys);
      try { localStorage.setItem(KEY, JSON.stringify(keys)); } catch (e) { /* private mode */ }
      const next = new URL(location.href);
      next.searchParams.set("cols", keys.join(","));
      history.replaceState(null, "", next);
      if (colsField) { colsField.value = keys.join(","); colsField.disabled = false; }
    });
  }

  const form = document.getElementById("compare-form");
  const button = document.getElementById("compare");
  const picks = Array.from(document.querySelectorAll('input[name="jobs"][form="compare-form"]'));
  function update() {
    const n = picks.filter((p) => p.checked).length;
    button.disabled = n < 2;
    button.textContent = n >= 2 ? "Compare " + n + " jobs" : "Compare";
  }
  for (const pick of picks) pick.addEventListener("change", update);
  update();
  // one stable URL: /compare?jobs=a,b (the form alone sends jobs=a&jobs=b, also understood)
  form.addEventListener("submit", (event) => {
    const names = picks.filter((p) => p.checked).map((p) => p.value);
    if (names.length < 2) { event.preventDefault(); return; }
    event.preventDefault();
    location.assign(form.action + "?jobs=" + names.map(encodeURIComponent).join(","));
  });
})();
