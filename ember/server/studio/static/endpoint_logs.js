/* An online endpoint's Logs tab: "Follow" re-reads the deployment's logs every few seconds
   and keeps the view at the end, unless the reader scrolled up. */
"use strict";
(function () {
  const follow = document.getElementById("log-follow");
  const box = document.getElementById("log-text");
  if (!follow || !box) return;
  const endpoint = Ember.data("endpoint-data");
  const path = Ember.ws("/online-endpoints/" + encodeURIComponent(endpoint.name) + "/deployments/" +
                        encodeURIComponent(box.dataset.deployment) + "/logs?lines=" + box.dataset.lines);
  let timer = null;

  async function refresh() {
    try {
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      box.textContent = (await Ember.api("GET", path)) || "(no output yet)";
      if (atEnd) box.scrollTop = box.scrollHeight;
    } catch (err) {
      Ember.notice("Could not read the logs: " + err.message, "bad");
    }
  }

  follow.addEventListener("change", () => {
    if (timer) clearInterval(timer);
    timer = follow.checked ? setInterval(refresh, 3000) : null;
    if (follow.checked) refresh();
  });
  box.scrollTop = box.scrollHeight;
})();
