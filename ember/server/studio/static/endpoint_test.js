/* An online endpoint's Test tab: sends the JSON body to the endpoint as the signed-in caller
   (the server adds the endpoint's key) and shows the answer. */
"use strict";
(function () {
  const form = document.getElementById("test-form");
  if (!form) return;
  const endpoint = Ember.data("endpoint-data");
  const status = document.getElementById("test-status");
  const out = document.getElementById("test-response");
  const send = document.getElementById("test-send");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = document.getElementById("test-body").value;
    try {
      JSON.parse(text);
    } catch (err) {
      status.textContent = "The request body is not JSON: " + err.message;
      status.className = "error-text";
      out.hidden = true;
      return;
    }
    const deployment = document.getElementById("test-deployment").value;
    let path = Ember.ws("/online-endpoints/" + encodeURIComponent(endpoint.name) + "/score");
    if (deployment) path += "?deployment_name=" + encodeURIComponent(deployment);
    send.disabled = true;
    status.className = "muted";
    status.textContent = "Sending…";
    const started = performance.now();
    try {
      const response = await fetch(path, {
        method: "POST", credentials: "same-origin", body: text,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": Ember.csrf() },
      });
      const body = await response.text();
      const took = Math.round(performance.now() - started);
      const from = response.headers.get("azureml-model-deployment");
      status.textContent = response.status + " " + (response.ok ? "OK" : response.statusText || "error") +
        (from ? " from deployment " + from : "") + " in " + took + " ms";
      status.className = response.ok ? "ok-text" : "error-text";
      let shown = body;
      try { shown = JSON.stringify(JSON.parse(body), null, 2); } catch (e) { /* not JSON */ }
      out.textContent = shown;
      out.hidden = false;
    } catch (err) {
      status.textContent = "The request failed: " + err.message;
      status.className = "error-text";
    } finally {
      send.disabled = false;
    }
  });
})();
