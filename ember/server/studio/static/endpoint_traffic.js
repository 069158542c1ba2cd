/* An online endpoint's Details tab: the traffic and mirror form. Checks that live traffic adds
   up to 100 (or 0) before sending, PATCHes the endpoint, and shows the API's answer. */
"use strict";
(function () {
  const form = document.getElementById("traffic-form");
  const save = document.getElementById("traffic-save");
  if (!form || !save) return;
  const endpoint = Ember.data("endpoint-data");
  const errorBox = document.getElementById("traffic-error");
  const total = document.getElementById("traffic-total");

  function split(name) {
    const out = {};
    for (const input of form.querySelectorAll('input[name="' + name + '"]')) {
      const value = input.value.trim() === "" ? 0 : Number(input.value);
      out[input.dataset.deployment] = value;
    }
    return out;
  }

  function check(traffic, mirror) {
    for (const [name, pct] of Object.entries(traffic)) {
      if (!Number.isInteger(pct) || pct < 0 || pct > 100)
        return "Traffic for " + name + " must be a whole percent from 0 to 100.";
    }
    for (const [name, pct] of Object.entries(mirror)) {
      if (!Number.isInteger(pct) || pct < 0 || pct > 50)
        return "Mirror traffic for " + name + " must be a whole percent from 0 to 50.";
    }
    const sum = Object.values(traffic).reduce((a, b) => a + b, 0);
    if (sum !== 100 && sum !== 0) return "Live traffic adds up to " + sum + "%; it must add up to 100%.";
    return "";
  }

  function showTotal() {
    const sum = Object.values(split("traffic")).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    if (total) total.textContent = sum + "%";
  }

  form.addEventListener("input", showTotal);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const traffic = split("traffic");
    const mirror = split("mirror");
    const problem = check(traffic, mirror);
    errorBox.textContent = problem;
    if (problem) return;
    // a 0% mirror is no mirror: leave it out rather than store it
    for (const name of Object.keys(mirror)) if (mirror[name] === 0) delete mirror[name];
    save.disabled = true;
    try {
      const updated = await Ember.api("PATCH", Ember.ws("/online-endpoints/" + encodeURIComponent(endpoint.name)),
                                      { traffic, mirror_traffic: mirror });
      const shown = Object.entries(updated.traffic).map(([d, p]) => d + " " + p + "%").join(", ") || "none";
      Ember.notice("Traffic saved: " + shown + ".", "ok");
    } catch (err) {
      errorBox.textContent = err.message;
    } finally {
      save.disabled = false;
    }
  });
})();
