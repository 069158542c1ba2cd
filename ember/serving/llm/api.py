"""OpenAI's API (``/v1/...``) and Azure's model inference API over one runtime.

``ServedModel.handle`` takes a request (method, path, headers, body) and gives a
:class:`Reply` (a JSON answer) or a :class:`Stream` (server-sent events); the worker only moves
bytes. Usage is counted for every answer and reported to the router (``x-ember-usage`` or the
``: usage`` event, ``protocol.py``) whether or not the client asked for it.
"""

from __future__ import annotations

import base64
import codecs
import copy
import queue
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ember.serving.llm import _api_params as P
from ember.serving.llm._api_params import ApiError
from ember.serving.llm.runtime import (
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_LENGTH,
    Event,
    GenRequest,
    RequestRefused,
    Runtime,
)

TASK_CHAT, TASK_TEXT, TASK_EMBEDDINGS = "chat-completion", "text-generation", "embeddings"
COMPLETION_DEFAULT_MAX = 16    # OpenAI's default max_tokens for /v1/completions
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE


@dataclass
class Stream:
    """An SSE answer: iterate ``events`` (each one chunk of bytes); ``cancel`` when the client
    went away (the runtime stops generating)."""

    events: Iterator[bytes]
    cancel: Any


def error_reply(exc: ApiError) -> Reply:
    return Reply(exc.status, orjson.dumps(exc.body()), dict(exc.headers))


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class _Choice:
    """One choice's text as tokens arrive: UTF-8 reassembly, stop sequences (the text that
    could still become one is held back), logprobs."""

    def __init__(self, index: int, stop: list[str]) -> None:
        self.index = index
        self.stop = stop
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""
        self.sent = 0
        self.tokens = 0
        self.finish: str | None = None
        self.error: str | None = None
        self.logprobs: list[dict[str, Any]] = []
        self.lp_sent = 0

    def feed(self, runtime: Runtime, event: Event) -> bool:
        """Add a token; True when a stop sequence just matched (generation should stop)."""
        self.tokens += 1
        if event.logprob is not None:
            self.logprobs.append(_lp_entry(event))
        self.text += self._decoder.decode(event.piece)
        if self.stop:
            start = max(0, self.sent - max(len(s) for s in self.stop))
            hits = [i for i in (self.text.find(s, start) for s in self.stop) if i >= 0]
            if hits:
                self.text = self.text[:min(hits)]
                self.finish = "stop"
                return True
        return False

    def end(self, event: Event) -> None:
        if self.finish is None:
            self.text += self._decoder.decode(b"", final=True)
            self.finish = "stop" if event.finish == FINISH_CANCELLED else event.finish
            self.error = event.error

    def ready(self) -> str:
        """Text that can be sent now."""
        upto = len(self.text)
        if self.finish is None and self.stop:
            for s in self.stop:
                for k in range(min(len(s) - 1, len(self.text)), 0, -1):
                    if self.text.endswith(s[:k]):
                        upto = min(upto, len(self.text) - k)
                        break
        out = self.text[self.sent:upto]
        self.sent = max(self.sent, upto)
        return out

    def new_logprobs(self) -> list[dict[str, Any]]:
        out = self.logprobs[self.lp_sent:]
        self.lp_sent = len(self.logprobs)
        return out


def _lp_entry(event: Event) -> dict[str, Any]:
    text = event.piece.decode("utf-8", "replace")
    return {"token": text, "logprob": event.logprob, "bytes": list(event.piece),
            "top_logprobs": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.raw)}
                             for t in (event.top or [])]}


class _Run:
    """The runtime requests of one API call and their choices."""

    def __init__(self, runtime: Runtime, prompts: list[list[int]], params: P.Params,
                 max_tokens: list[int], adapter: str | None) -> None:
        self.sink: queue.Queue[Event] = queue.Queue()
        self.requests: list[GenRequest] = []
        self.choices: list[_Choice] = []
        self.prompt_tokens = sum(len(p) for p in prompts)
        for i, prompt in enumerate(prompts):
            for k in range(params.n):
                sampling = copy.copy(params.sampling)
                if sampling.seed is not None:
                    sampling.seed += k
                index = i * params.n + k
                self.requests.append(GenRequest(prompt=prompt, max_tokens=max_tokens[i],
                                                sampling=sampling, sink=self.sink, index=index,
                                                adapter=adapter))
                self.choices.append(_Choice(index, params.stop))
        self.runtime = runtime
        self.open = len(self.requests)

    def start(self) -> None:
        for r in self.requests:
            self.runtime.submit(r)

    def next(self) -> _Choice:
        """Wait for the next event; the choice it changed."""
        event = self.sink.get()
        choice = self.choices[event.index]
        if event.finish is not None:
            choice.end(event)
            self.open -= 1
        elif choice.finish is None and choice.feed(self.runtime, event):
            self.requests[event.index].cancel()
        return choice

    def cancel(self) -> None:
        for r in self.requests:
            r.cancel()

    @property
    def completion_tokens(self) -> int:
        return sum(c.tokens for c in self.choices)

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    def failed(self) -> str | None:
        errors = [c.error or "generation failed" for c in self.choices
                  if c.finish == FINISH_ERROR]
        return errors[0] if errors else None


class ServedModel:
    """A runtime behind OpenAI's and Azure's inference routes."""

    def __init__(self, runtime: Runtime, name: str, task: str = TASK_CHAT,
                 provider: str = "Ember") -> None:
        self.runtime = runtime
        self.name = name
        self.task = task
        self.provider = provider
        self.created = int(time.time())
        self._template = None
        if runtime.chat_template:
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            env.globals["raise_exception"] = _raise_template_error
            env.globals["strftime_now"] = lambda fmt: time.strftime(fmt)
            self._template = env.from_string(runtime.chat_template)

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> Reply | Stream:
        try:
            route = path.rstrip("/") or "/"
            if route in ("/v1/models", "/models") and method == "GET":
                return self._json(200, self.models())
            if route == "/info" and method == "GET":
                return self._json(200, self.info())
            handlers = {"/v1/chat/completions": self.chat, "/chat/completions": self.chat,
                        "/v1/completions": self.completions, "/completions": self.completions,
                        "/v1/embeddings": self.embeddings, "/embeddings": self.embeddings,
                        "/score": self.score}
            handler = handlers.get(route)
            if handler is None:
                raise ApiError(404, f"no route {method} {path}", code="not_found")
            if method != "POST":
                raise ApiError(405, f"{path}: use POST", code="method_not_allowed")
            try:
                data = orjson.loads(body) if body else None
            except orjson.JSONDecodeError as exc:
                raise ApiError(400, f"the request body is not valid JSON: {exc}",
                               code="invalid_json") from None
            if not isinstance(data, dict):
                raise ApiError(400, "the request body must be a JSON object",
                               code="invalid_json")
            mode = headers.get("extra-parameters", "error").strip().lower() or "error"
            return handler(data, mode)
        except ApiError as exc:
            return error_reply(exc)
        except RequestRefused as exc:
            return error_reply(ApiError(422, str(exc), param=exc.param,
                                        code="parameter_not_supported"))

    def _json(self, status: int, obj: Any, usage: dict[str, int] | None = None) -> Reply:
        headers = {}
        if usage is not None:
            headers["x-ember-usage"] = f"{usage['prompt_tokens']} {usage['completion_tokens']}"
        return Reply(status, orjson.dumps(obj), headers)

    def models(self) -> dict[str, Any]:
        data = [{"id": self.name, "object": "model", "created": self.created,
                 "owned_by": self.provider, "root": self.name, "parent": None}]
        for name, info in sorted(self.runtime.adapters().items()):
            data.append({"id": name, "object": "model", "created": self.created,
                         "owned_by": self.provider, "root": name, "parent": self.name,
                         "loaded": bool(info.get("loaded"))})
        return {"object": "list", "data": data}

    def info(self) -> dict[str, str]:
        kinds = {TASK_CHAT: "chat_completion", TASK_TEXT: "text_generation",
                 TASK_EMBEDDINGS: "embeddings"}
        return {"model_name": self.name, "model_type": kinds.get(self.task, self.task),
                "model_provider_name": self.provider}

    # --- prompts ----------------------------------------------------------------------------

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if self._template is None:
            raise ApiError(400, f"model {self.name} has no chat template: call /v1/completions "
                           "with a prompt instead", code="chat_not_supported")
        try:
            return str(self._template.render(messages=messages, add_generation_prompt=True,
                                             bos_token=self.runtime.bos_token,
                                             eos_token=self.runtime.eos_token))
        except _TemplateError as exc:
            raise ApiError(400, f"messages: the model's chat template refused them: {exc}",
                           param="messages") from None

    def chat_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.render_chat(messages)
        bos = self.runtime.bos_token
        return self.runtime.tokenize(text, add_special=not (bos and text.startswith(bos)))

    def _adapter(self, data: dict[str, Any]) -> str | None:
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise P.bad("model", "must be a string")
        if model and model != self.name and model in self.runtime.adapters():
            return model
        return None   # the base answers any other name, as llama.cpp's and Azure's servers do

    def _limits(self, prompts: list[list[int]], requested: int | None, default: int | None,
                what: str) -> list[int]:
        ctx = self.runtime.context_length
        out = []
        for p in prompts:
            if len(p) >= ctx:
                raise ApiError(400, f"This model's maximum context length is {ctx} tokens. "
                               f"However, your {what} resulted in {len(p)} tokens. Please "
                               f"reduce the length of the {what}.", param=what,
                               code="context_length_exceeded")
            if requested is not None and len(p) + requested > ctx:
                raise ApiError(400, f"This model's maximum context length is {ctx} tokens. "
                               f"However, you requested {len(p) + requested} tokens ({len(p)} "
                               f"in the {what}, {requested} in the completion). Please reduce "
                               f"the length of the {what} or completion.", param="max_tokens",
                               code="context_length_exceeded")
            limit = requested if requested is not None else (ctx - len(p) if default is None
                                                            else min(default, ctx - len(p)))
            out.append(limit)
        return out

    def _generator(self) -> None:
        if self.task == TASK_EMBEDDINGS:
            raise ApiError(400, f"model {self.name} is an embedding model: call /v1/embeddings",
                           code="model_not_supported")

    # --- chat -------------------------------------------------------------------------------

    def chat(self, data: dict[str, Any], mode: str) -> Reply | Stream:
        self._generator()
        P.check_keys(data, P.CHAT, mode)
        messages = P.messages_of(data)
        params = P.chat(data)
        prompt = self.chat_tokens(messages)
        limits = self._limits([prompt], params.max_tokens, None, "messages")
        run = _Run(self.runtime, [prompt], params, limits, self._adapter(data))
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        model = data.get("model") or self.name
        run.start()
        if params.stream:
            return Stream(self._chat_stream(run, params, rid, created, model), run.cancel)
        while run.open:
            run.next()
        failed = run.failed()
        if failed:
            raise ApiError(500, f"generation failed: {failed}", code="generation_failed")
        choices = []
        for c in run.choices:
            choice: dict[str, Any] = {"index": c.index, "message": {"role": "assistant",
                                                                     "content": c.text},
                                      "logprobs": None, "finish_reason": c.finish}
            if params.logprobs:
                choice["logprobs"] = {"content": c.logprobs}
            choices.append(choice)
        usage = run.usage()
        return self._json(200, {"id": rid, "object": "chat.completion", "created": created,
                                "model": model, "choices": choices, "usage": usage,
                                "system_fingerprint": None}, usage)

    def _chat_stream(self, run: _Run, params: P.Params, rid: str, created: int,
                     model: str) -> Iterator[bytes]:
        base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": None}
        if params.include_usage:
            base["usage"] = None

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None,
                  logprobs: Any = None) -> bytes:
            return _sse({**base, "choices": [{"index": index, "delta": delta,
                                              "logprobs": logprobs, "finish_reason": finish}]})

        try:
            for c in run.choices:
                yield chunk(c.index, {"role": "assistant", "content": ""})
            closed: set[int] = set()
            while run.open:
                c = run.next()
                text = c.ready()
                lps = c.new_logprobs() if params.logprobs else []
                if text or lps:
                    yield chunk(c.index, {"content": text},
                                logprobs={"content": lps} if params.logprobs else None)
                if c.finish is not None and c.finish != FINISH_ERROR and c.index not in closed:
                    closed.add(c.index)
                    yield chunk(c.index, {}, c.finish)
            yield from _stream_end(run, params, base)
        finally:
            run.cancel()

    # --- completions ------------------------------------------------------------------------

    def _prompts(self, prompt: Any) -> list[list[int]]:
        if isinstance(prompt, str):
            return [self.runtime.tokenize(prompt, add_special=True)]
        if isinstance(prompt, list) and prompt:
            if all(isinstance(p, str) for p in prompt):
                return [self.runtime.tokenize(p, add_special=True) for p in prompt]
            if all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
                return [list(prompt)]
            if all(isinstance(p, list) and p and all(isinstance(t, int) for t in p)
                   for p in prompt):
                return [list(p) for p in prompt]
        raise P.bad("prompt", "must be a string, a list of strings, a list of token ids or a "
                    "list of such lists (non-empty)")

    def completions(self, data: dict[str, Any], mode: str) -> Reply | Stream:
        self._generator()
        P.check_keys(data, P.COMPLETION, mode)
        params = P.completion(data)
        prompts = self._prompts(data.get("prompt"))
        if len(prompts) * params.n > P.MAX_N * 4:
            raise P.bad("prompt", f"at most {P.MAX_N * 4} prompts × n per request")
        limits = self._limits(prompts, params.max_tokens or None, COMPLETION_DEFAULT_MAX,
                              "prompt")
        if params.max_tokens == 0:   # echo only: nothing to generate
            limits = [0] * len(prompts)
        run = _Run(self.runtime, prompts, params, [max(1, m) for m in limits],
                   self._adapter(data))
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        model = data.get("model") or self.name
        echoes = [self._detok(p) if params.echo else "" for p in prompts]
        if params.max_tokens == 0:
            run.choices = [
                _Choice(i, []) for i in range(len(prompts) * params.n)]
            for c in run.choices:
                c.finish = FINISH_LENGTH
            run.open = 0
        else:
            run.start()
        if params.stream:
            return Stream(self._completion_stream(run, params, rid, created, model, echoes),
                          run.cancel)
        while run.open:
            run.next()
        failed = run.failed()
        if failed:
            raise ApiError(500, f"generation failed: {failed}", code="generation_failed")
        choices = [{"index": c.index, "text": echoes[c.index // params.n] + c.text,
                    "logprobs": _completion_logprobs(c.logprobs) if params.logprobs else None,
                    "finish_reason": c.finish} for c in run.choices]
        usage = run.usage()
        return self._json(200, {"id": rid, "object": "text_completion", "created": created,
                                "model": model, "choices": choices, "usage": usage}, usage)

    def _completion_stream(self, run: _Run, params: P.Params, rid: str, created: int,
                           model: str, echoes: list[str]) -> Iterator[bytes]:
        base: dict[str, Any] = {"id": rid, "object": "text_completion", "created": created,
                                "model": model}

        def chunk(index: int, text: str, finish: str | None = None, lps: Any = None) -> bytes:
            return _sse({**base, "choices": [{"index": index, "text": text, "logprobs": lps,
                                              "finish_reason": finish}]})

        try:
            for c in run.choices:
                if echoes[c.index // params.n]:
                    yield chunk(c.index, echoes[c.index // params.n])
            closed: set[int] = set()
            while run.open:
                c = run.next()
                text = c.ready()
                lps = c.new_logprobs() if params.logprobs else []
                if text or lps:
                    yield chunk(c.index, text, None,
                                _completion_logprobs(lps) if params.logprobs else None)
                if c.finish is not None and c.finish != FINISH_ERROR and c.index not in closed:
                    closed.add(c.index)
                    yield chunk(c.index, "", c.finish)
            for c in run.choices:   # echo-only (max_tokens 0) choices
                if c.index not in closed and c.finish is not None and c.finish != FINISH_ERROR:
                    yield chunk(c.index, "", c.finish)
            yield from _stream_end(run, params, base)
        finally:
            run.cancel()

    def _detok(self, tokens: list[int]) -> str:
        return b"".join(self.runtime.token_bytes(t) for t in tokens).decode("utf-8", "replace")

    # --- embeddings -------------------------------------------------------------------------

    def embeddings(self, data: dict[str, Any], mode: str) -> Reply:
        """``input``: a string, a list of strings, a list of token ids or a list of such lists;
        ``encoding_format`` float or base64 (little-endian float32, what the openai client
        asks for by default); ``dimensions`` only as the model's own size (its vectors are not
        trained to be cut short, Matryoshka-style: a truncated vector would be a worse one)."""
        if self.task != TASK_EMBEDDINGS:
            raise ApiError(400, f"model {self.name} does not produce embeddings (its task is "
                           f"{self.task})", code="model_not_supported")
        P.check_keys(data, P.EMBEDDINGS, mode)
        inputs = self._embedding_inputs(data.get("input"))
        fmt = data.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise P.bad("encoding_format", f"must be 'float' or 'base64', not {fmt!r}")
        size = getattr(self.runtime, "dimensions", None)
        dims = data.get("dimensions")
        if dims is not None:
            if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
                raise P.bad("dimensions", "must be a positive integer")
            if dims != size:
                raise ApiError(422, f"dimensions: model {self.name} gives {size}-dimensional "
                               "embeddings and is not trained for shorter ones", param="dimensions",
                               code="parameter_not_supported")
        ctx = self.runtime.context_length
        for i, ids in enumerate(inputs):
            if len(ids) > ctx:
                raise ApiError(400, f"input[{i}]: This model's maximum context length is {ctx} "
                               f"tokens. However, your input resulted in {len(ids)} tokens. "
                               "Please reduce the length of the input.", param="input",
                               code="context_length_exceeded")
        vectors = self.runtime.embed(inputs)
        data_out = []
        for i, vector in enumerate(vectors):
            value: Any = vector
            if fmt == "base64":
                value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data_out.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(len(ids) for ids in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return self._json(200, {"object": "list", "data": data_out,
                                "model": data.get("model") or self.name, "usage": usage},
                          {**usage, "completion_tokens": 0})

    def _embedding_inputs(self, value: Any) -> list[list[int]]:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and value:
            if all(isinstance(v, str) for v in value):
                if len(value) > P.MAX_EMBEDDING_INPUTS:
                    raise P.bad("input", f"at most {P.MAX_EMBEDDING_INPUTS} inputs per request")
                if not all(value):
                    raise P.bad("input", "an input must not be an empty string")
                return [self.runtime.tokenize(v, add_special=True) for v in value]
            if all(isinstance(t, int) and not isinstance(t, bool) for t in value):
                return [list(value)]
            if all(isinstance(v, list) and v and all(isinstance(t, int) and
                                                     not isinstance(t, bool) for t in v)
                   for v in value):
                if len(value) > P.MAX_EMBEDDING_INPUTS:
                    raise P.bad("input", f"at most {P.MAX_EMBEDDING_INPUTS} inputs per request")
                return [list(v) for v in value]
        raise P.bad("input", "must be a non-empty string, a list of strings, a list of token "
                    "ids or a list of such lists")

    # --- Azure /score -----------------------------------------------------------------------

    def score(self, data: dict[str, Any], mode: str) -> Reply:
        """``{"input_data": {"input_string": [...], "parameters": {...}}}``: chat messages
        answer ``{"output": text}``; prompts answer ``[{"0": text}, ...]``."""
        inner = data.get("input_data", data.get("inputs"))
        if not isinstance(inner, dict) or not isinstance(inner.get("input_string"), list) \
                or not inner["input_string"]:
            raise ApiError(400, "body must be {\"input_data\": {\"input_string\": [...], "
                           "\"parameters\": {...}}}", param="input_data")
        items = inner["input_string"]
        params = inner.get("parameters") or {}
        if not isinstance(params, dict):
            raise P.bad("input_data.parameters", "must be an object")
        body: dict[str, Any] = {}
        for key, value in params.items():
            target = str({"max_new_tokens": "max_tokens", "max_length": "max_tokens"}.get(key, key))
            if target in ("do_sample", "return_full_text"):
                continue
            body[target] = value
        if params.get("do_sample") is False:
            body["temperature"] = 0.0
        if all(isinstance(i, dict) for i in items):
            answer = self.chat({**body, "messages": items}, mode)
            assert isinstance(answer, Reply)
            if answer.status != 200:
                return answer
            out = orjson.loads(answer.body)
            return Reply(200, orjson.dumps({"output": out["choices"][0]["message"]["content"]}),
                         answer.headers)
        if all(isinstance(i, str) for i in items):
            answer = self.completions({**body, "prompt": items}, mode)
            assert isinstance(answer, Reply)
            if answer.status != 200:
                return answer
            out = orjson.loads(answer.body)
            texts = sorted(out["choices"], key=lambda c: c["index"])
            return Reply(200, orjson.dumps([{"0": c["text"]} for c in texts]), answer.headers)
        raise P.bad("input_data.input_string", "must be a list of strings (prompts) or of "
                    "messages ({role, content})")


def _stream_end(run: _Run, params: P.Params, base: dict[str, Any]) -> Iterator[bytes]:
    """A stream's last events: the error if generation failed (and no ``[DONE]``), else the
    usage chunk when asked for and ``[DONE]``; always the ``: usage`` event for the router."""
    failed = run.failed()
    if failed:
        yield _sse(ApiError(500, f"generation failed: {failed}", code="generation_failed").body())
    elif params.include_usage:
        yield _sse({**base, "choices": [], "usage": run.usage()})
    yield f": usage {run.prompt_tokens} {run.completion_tokens}\n\n".encode()
    if not failed:
        yield b"data: [DONE]\n\n"


def _completion_logprobs(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tokens": [e["token"] for e in entries],
            "token_logprobs": [e["logprob"] for e in entries],
            "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]}
                             for e in entries],
            "text_offset": []}


class _TemplateError(Exception):
    pass


def _raise_template_error(message: str) -> None:
    raise _TemplateError(message)
