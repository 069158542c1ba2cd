/* The job page's header: Cancel (shown only to callers who may write, while the job can be
   cancelled; the API decides again). */
"use strict";
(function () {
  const button = document.getElementById("cancel-job");
  if (!button) return;
  button.addEventListener("click", async () => {
    if (!window.confirm("Cancel job " + button.dataset.job + "?")) return;
    button.disabled = true;
    try {
      const job = await Ember.api("POST", Ember.ws("/jobs/" + encodeURIComponent(button.dataset.job) + "/cancel"));
      const badge = document.getElementById("job-status");
      if (badge) { badge.textContent = job.status; badge.className = "badge bad"; }
      Ember.notice("Cancel requested: the job is " + job.status + ".", "ok");
      button.remove();
    } catch (err) {
      button.disabled = false;
      Ember.notice("Could not cancel: " + err.message, "bad");
    }
  });
})();
