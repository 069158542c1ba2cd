/* A schedule's page: Enable, Disable and Trigger now, through the REST API. */
"use strict";
(function () {
  const schedule = Ember.data("schedule-data");
  const enable = document.getElementById("enable");
  const disable = document.getElementById("disable");
  const trigger = document.getElementById("trigger");
  if (!schedule || !enable || !disable || !trigger) return;
  const base = "/schedules/" + encodeURIComponent(schedule.name);
  const badge = document.getElementById("state-badge");
  const nextRun = document.getElementById("next-run");

  function badgeClass(status) {
    const s = String(status || "").toLowerCase();
    if (s === "completed") return "ok";
    if (["failed", "canceled"].includes(s)) return "bad";
    if (["queued", "preparing", "starting", "running", "finalizing", "cancelrequested"].includes(s)) return "busy";
    return "idle";
  }

  async function setState(button) {
    const action = button.dataset.action;
    button.disabled = true;
    try {
      const got = await Ember.api("POST", Ember.ws(base + "/" + action));
      const on = got.is_enabled;
      enable.hidden = on;
      disable.hidden = !on;
      badge.textContent = on ? "Enabled" : "Disabled";
      badge.className = "badge " + (on ? "ok" : "idle");
      nextRun.textContent = on && got.next_fire_time
        ? new Date(got.next_fire_time * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "—";
      Ember.notice(on ? "The schedule is enabled." : "The schedule is disabled: it makes no job until it is enabled again.", "ok");
      (on ? disable : enable).focus();
    } catch (error) {
      Ember.notice("Could not " + action + " the schedule: " + error.message, "bad");
    } finally {
      button.disabled = false;
    }
  }

  async function triggerNow() {
    trigger.disabled = true;
    try {
      const job = await Ember.api("POST", Ember.ws(base + "/trigger"), {});
      const body = document.querySelector("#history tbody");
      const empty = body.querySelector("tr.empty");
      if (empty) empty.remove();
      const link = Ember.el("a", { href: "/ws/" + location.pathname.split("/")[2] + "/jobs/" + encodeURIComponent(job.name), text: job.name });
      const status = Ember.el("span", { class: "badge " + badgeClass(job.status), text: job.status });
      const when = new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC";
      const row = Ember.el("tr", {}, [Ember.el("td", {}, [link]), Ember.el("td", {}, [status]),
        Ember.el("td", { text: when })]);
      // a table with more columns (a monitor's runs): the rest stays empty until a reload
      const columns = body.closest("table").querySelectorAll("thead th").length;
      if (columns > 3) row.append(Ember.el("td", { colspan: String(columns - 3) }));
      body.prepend(row);
      Ember.notice("Job " + job.name + " is submitted.", "ok");
    } catch (error) {
      Ember.notice("Could not trigger the schedule: " + error.message, "bad");
    } finally {
      trigger.disabled = false;
    }
  }

  enable.addEventListener("click", () => setState(enable));
  disable.addEventListener("click", () => setState(disable));
  trigger.addEventListener("click", triggerNow);
})();
