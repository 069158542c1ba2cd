/* The Outputs tab's live log: long-polls GET .../jobs/<name>/logs?offset=&wait= and appends
   what the job writes until the job has ended and the log is read to its end. */
"use strict";
(function () {
  const pre = document.getElementById("log");
  if (!pre) return;
  const state = document.getElementById("log-state");
  const ENDED = ["Completed", "Failed", "Canceled"];
  const path = Ember.ws("/jobs/" + encodeURIComponent(pre.dataset.job) + "/logs");
  const decoder = new TextDecoder();
  let offset = Number(pre.dataset.offset || 0);

  async function follow() {
    for (;;) {
      const response = await fetch(path + "?offset=" + offset + "&wait=10", { credentials: "same-origin" });
      if (!response.ok) throw new Error("log: " + response.status + " " + response.statusText);
      const bytes = new Uint8Array(await response.arrayBuffer());
      const size = Number(response.headers.get("X-Ember-Log-Size") || 0);
      const status = response.headers.get("X-Ember-Job-Status") || "";
      if (bytes.length) {
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.append(decoder.decode(bytes, { stream: true }));
        offset += bytes.length;
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
      const badge = document.getElementById("job-status");
      if (badge && status && badge.textContent !== status) badge.textContent = status;
      if (ENDED.includes(status) && offset >= size) {
        pre.dataset.done = "true";
        state.textContent = "The job has ended (" + status + "): this is its whole log.";
        return;
      }
    }
  }

  follow().catch((err) => {
    state.textContent = "The log stopped updating: " + err.message;
  });
})();
