"""Request bodies of OpenAI's and Azure's inference API → what the runtime is asked.

Every field is checked with its name in the error (OpenAI's 400 ``invalid_request_error``
with ``param``); keys the API does not know are a 422 naming them unless the request's
``extra-parameters`` header says ``pass-through`` / ``ignore`` / ``drop`` (Azure's rule; the
default is ``error``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ember.serving.llm.runtime import SamplingParams

MAX_N = 16
MAX_STOP = 4
MAX_TOP_LOGPROBS = 20

COMMON = {"model", "temperature", "top_p", "n", "stop", "seed", "presence_penalty",
          "frequency_penalty", "stream", "stream_options", "max_tokens", "user"}
# Fields of OpenAI's API that change nothing here (accepted so that clients sending them work).
HARMLESS = {"user", "metadata", "store", "service_tier", "parallel_tool_calls"}
CHAT = COMMON | HARMLESS | {"messages", "max_completion_tokens", "logprobs", "top_logprobs",
                            "response_format", "tools", "tool_choice"}
COMPLETION = COMMON | HARMLESS | {"prompt", "echo", "logprobs", "best_of", "suffix"}
EMBEDDINGS = {"model", "input", "encoding_format", "dimensions", "user"}
MAX_EMBEDDING_INPUTS = 2048     # OpenAI's limit on inputs per embeddings request
# Sampling fields outside OpenAI's API that vLLM and llama.cpp take (``extra_body``).
EXTRAS = {"top_k", "min_p", "repetition_penalty"}
EXTRA_MODES = {"error", "pass-through", "ignore", "drop"}


class ApiError(Exception):
    """An answer in OpenAI's error shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or ("invalid_request_error" if status < 500 else "server_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def bad(param: str, message: str) -> ApiError:
    return ApiError(400, f"{param}: {message}", param=param, code="invalid_value")


@dataclass
class Params:
    """A parsed generation request (chat or completion)."""

    n: int = 1
    max_tokens: int | None = None       # None: up to the context length (chat) / 16 (completion)
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    logprobs: bool = False
    top_logprobs: int = 0
    echo: bool = False
    sampling: SamplingParams = field(default_factory=SamplingParams)


def check_keys(body: dict[str, Any], allowed: set[str], mode: str) -> None:
    if mode not in EXTRA_MODES:
        raise ApiError(400, f"extra-parameters header: {mode!r} is not one of "
                       f"{', '.join(sorted(EXTRA_MODES))}", param="extra-parameters")
    unknown = sorted(k for k in body if k not in allowed and k not in EXTRAS)
    if unknown and mode == "error":
        raise ApiError(422, f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                       f"{', '.join(unknown)}: not supported by this model (send header "
                       "'extra-parameters: pass-through' to allow extra parameters)",
                       param=unknown[0], code="parameter_not_supported")


def _number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(key, f"must be a number, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise bad(key, f"must be from {lo:g} to {hi:g}, not {value}")
    return float(value)


def _int(body: dict[str, Any], key: str, lo: int, hi: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(key, f"must be an integer, not {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        raise bad(key, f"must be {'from ' + str(lo) + ' to ' + str(hi) if hi is not None else 'at least ' + str(lo)}, not {value}")
    return value


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(key, f"must be true or false, not {value!r}")
    return value


def common(body: dict[str, Any]) -> Params:
    p = Params()
    p.n = _int(body, "n", 1, MAX_N) or 1
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            raise bad("stop", "must be a non-empty string or a list of them")
        if len(stop) > MAX_STOP:
            raise bad("stop", f"at most {MAX_STOP} sequences, not {len(stop)}")
        p.stop = list(stop)
    p.stream = _bool(body, "stream")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad("stream_options", "must be an object")
        if not p.stream:
            raise bad("stream_options", "only allowed when stream is true")
        p.include_usage = bool(options.get("include_usage"))
    s = p.sampling
    s.temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    s.top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if s.top_p == 0.0:
        s.temperature = 0.0
    s.presence_penalty = _number(body, "presence_penalty", 0.0, -2.0, 2.0)
    s.frequency_penalty = _number(body, "frequency_penalty", 0.0, -2.0, 2.0)
    s.top_k = _int(body, "top_k", 0) or 0
    s.min_p = _number(body, "min_p", 0.0, 0.0, 1.0)
    s.repetition_penalty = _number(body, "repetition_penalty", 1.0, 0.01, 10.0)
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise bad("seed", "must be an integer")
        s.seed = seed
    return p


def chat(body: dict[str, Any]) -> Params:
    p = common(body)
    limit = _int(body, "max_completion_tokens", 1)
    p.max_tokens = limit if limit is not None else _int(body, "max_tokens", 1)
    p.logprobs = _bool(body, "logprobs")
    top = _int(body, "top_logprobs", 0, MAX_TOP_LOGPROBS)
    if top is not None and not p.logprobs:
        raise bad("top_logprobs", "needs logprobs: true")
    p.top_logprobs = top or 0
    if p.logprobs:
        p.sampling.logprobs = p.top_logprobs
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_object":
            p.sampling.json_mode = True
        elif kind != "text":
            raise ApiError(422, f"response_format: type {kind!r} is not supported (use "
                           "'text' or 'json_object')", param="response_format",
                           code="parameter_not_supported")
    if body.get("tools"):
        raise ApiError(422, "tools: tool calling is not supported by this model",
                       param="tools", code="parameter_not_supported")
    return p


def completion(body: dict[str, Any]) -> Params:
    p = common(body)
    p.max_tokens = _int(body, "max_tokens", 0)
    p.echo = _bool(body, "echo")
    top = _int(body, "logprobs", 0, 5)
    if top is not None:
        p.logprobs, p.top_logprobs = True, top
        p.sampling.logprobs = top
    best_of = _int(body, "best_of", 1, MAX_N)
    if best_of is not None and best_of != p.n:
        raise ApiError(422, "best_of: only best_of equal to n is supported", param="best_of",
                       code="parameter_not_supported")
    if body.get("suffix"):
        raise ApiError(422, "suffix: insertion is not supported by this model", param="suffix",
                       code="parameter_not_supported")
    return p


def messages_of(body: dict[str, Any]) -> list[dict[str, str]]:
    """``messages`` with each content as one string (text parts joined)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "must be a non-empty list")
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad(where, "must be an object with role and content")
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise bad(f"{where}.role", f"must be system, developer, user, assistant or tool, "
                      f"not {role!r}")
        content = m.get("content")
        if content is None and role == "assistant":
            content = ""
        if isinstance(content, list):
            texts = []
            for j, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") != "text" or \
                        not isinstance(part.get("text"), str):
                    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                    raise ApiError(422 if isinstance(part, dict) else 400,
                                   f"{where}.content[{j}]: only text parts are supported, "
                                   f"not {kind!r}", param=f"{where}.content",
                                   code="parameter_not_supported")
                texts.append(part["text"])
            content = "".join(texts)
        if not isinstance(content, str):
            raise bad(f"{where}.content", "must be a string or a list of text parts")
        out.append({"role": "system" if role == "developer" else role, "content": content})
    return out
