/* A model version's page: Archive and Restore, through the REST API. */
"use strict";
(function () {
  const model = Ember.data("model-data");
  const archive = document.getElementById("archive");
  const restore = document.getElementById("restore");
  if (!model || !archive || !restore) return;
  const badge = document.getElementById("archived-badge");

  async function run(button) {
    const action = button.dataset.action;
    const path = "/models/" + encodeURIComponent(model.name) + "/" + action +
      "?version=" + encodeURIComponent(model.version);
    button.disabled = true;
    try {
      await Ember.api("POST", Ember.ws(path));
      const archived = action === "archive";
      archive.hidden = archived;
      restore.hidden = !archived;
      badge.hidden = !archived;
      Ember.notice(archived ? "Version " + model.version + " is archived: it is hidden from " +
        "the list and from 'latest'." : "Version " + model.version + " is restored.", "ok");
      (archived ? restore : archive).focus();
    } catch (error) {
      Ember.notice("Could not " + action + " the model: " + error.message, "bad");
    } finally {
      button.disabled = false;
    }
  }

  archive.addEventListener("click", () => run(archive));
  restore.addEventListener("click", () => run(restore));
})();
