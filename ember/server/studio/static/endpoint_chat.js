/* A language-model endpoint's chat playground: sends the conversation to the model's
   /v1/chat/completions as the signed-in caller (the server adds the endpoint's key) with
   stream: true, and reads the server-sent events as they come (fetch + ReadableStream). */
"use strict";
(function () {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const endpoint = Ember.data("endpoint-data");
  const log = document.getElementById("chat-log");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const stop = document.getElementById("chat-stop");
  const status = document.getElementById("chat-status");
  const resource = endpoint.kind === "serverless" ? "/serverless-endpoints/" : "/online-endpoints/";
  const path = Ember.ws(resource + encodeURIComponent(endpoint.name) + "/v1/chat/completions");
  let messages = [];
  let running = null;   // the AbortController of the answer being read

  function bubble(role, text) {
    const body = Ember.el("span", { class: "text", text: text || "" });
    const node = Ember.el("div", { class: "msg " + role }, [
      Ember.el("span", { class: "who", text: role === "user" ? "You" : "Assistant" }), body]);
    log.append(node);
    log.scrollTop = log.scrollHeight;
    return { node, body };
  }

  function events(buffer, onData) {
    // server-sent events end with a blank line; returns what is left of an unfinished one
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart()).join("\n");
      if (data) onData(data);
    }
    return buffer;
  }

  async function errorText(response) {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      return (body.error && body.error.message) || body.message || text;
    } catch (e) {
      return text || response.statusText;
    }
  }

  async function ask(question) {
    const system = document.getElementById("chat-system").value.trim();
    messages.push({ role: "user", content: question });
    bubble("user", question);
    const answer = bubble("assistant", "");
    answer.node.setAttribute("aria-busy", "true");
    const body = {
      model: endpoint.model, stream: true, stream_options: { include_usage: true },
      messages: (system ? [{ role: "system", content: system }] : []).concat(messages),
      max_tokens: Number(document.getElementById("chat-max-tokens").value) || 64,
      temperature: Number(document.getElementById("chat-temperature").value),
    };
    running = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    status.textContent = "Answering…";
    let text = "", chunks = 0, usage = null, finish = "";
    try {
      const response = await fetch(path, {
        method: "POST", credentials: "same-origin", signal: running.signal,
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream",
                   "X-CSRF-Token": Ember.csrf() },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(response.status + ": " + (await errorText(response)));
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = events(buffer + decoder.decode(value, { stream: true }), (data) => {
          if (data === "[DONE]") return;
          const chunk = JSON.parse(data);
          if (chunk.usage) usage = chunk.usage;
          const choice = (chunk.choices || [])[0];
          if (!choice) return;
          if (choice.finish_reason) finish = choice.finish_reason;
          const delta = choice.delta && choice.delta.content;
          if (delta) {
            text += delta;
            chunks += 1;
            answer.body.textContent = text;
            answer.node.dataset.chunks = String(chunks);
            log.scrollTop = log.scrollHeight;
          }
        });
      }
      messages.push({ role: "assistant", content: text });
      status.textContent = "Done" + (finish ? " (" + finish + ")" : "") +
        (usage ? ": " + usage.prompt_tokens + " prompt + " + usage.completion_tokens + " completion tokens" : "") + ".";
    } catch (err) {
      if (err.name === "AbortError") {
        messages.push({ role: "assistant", content: text });
        status.textContent = "Stopped.";
      } else {
        messages.pop();
        answer.node.classList.add("error-text");
        answer.body.textContent = "The model did not answer: " + err.message;
        status.textContent = "";
      }
    } finally {
      answer.node.setAttribute("aria-busy", "false");
      answer.node.dataset.done = "true";
      running = null;
      send.disabled = false;
      stop.disabled = true;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || running) return;
    input.value = "";
    ask(question);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener("click", () => { if (running) running.abort(); });
  document.getElementById("chat-clear").addEventListener("click", () => {
    if (running) running.abort();
    messages = [];
    log.replaceChildren();
    status.textContent = "";
  });
})();
