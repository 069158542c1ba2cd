/* A Consume tab: copy buttons, and the keys, fetched only when "Show keys" is clicked. */
"use strict";
(function () {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        Ember.notice("Copied.", "ok");
      } catch (err) {
        // no clipboard (an insecure origin): select the text for a manual copy
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        Ember.notice("Selected: press Ctrl+C to copy.");
      }
    });
  }
  const reveal = document.getElementById("keys-reveal");
  if (!reveal) return;
  reveal.addEventListener("click", async () => {
    const box = document.getElementById("keys");
    if (!box.hidden) {
      box.hidden = true;
      document.getElementById("key-primary").textContent = "";
      document.getElementById("key-secondary").textContent = "";
      reveal.textContent = "Show keys";
      return;
    }
    reveal.disabled = true;
    try {
      const keys = await Ember.api(reveal.dataset.keysMethod, Ember.ws(reveal.dataset.keysPath));
      document.getElementById("key-primary").textContent = keys.primary_key || keys.primaryKey || "";
      document.getElementById("key-secondary").textContent = keys.secondary_key || keys.secondaryKey || "";
      box.hidden = false;
      reveal.textContent = "Hide keys";
    } catch (err) {
      Ember.notice("Could not read the keys: " + err.message, "bad");
    } finally {
      reveal.disabled = false;
    }
  });
})();
