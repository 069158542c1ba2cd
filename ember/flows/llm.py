"""The ``llm`` and ``prompt`` node types, and the built-in embedding tool.

A flow written for promptflow's LLM tool must send the same request here: the node's inputs that
name request parameters (``temperature``, ``max_tokens``, ``stop``...) become parameters, with
quoted YAML numbers converted and promptflow's defaults kept (``temperature`` and ``top_p`` 1.0,
a completion's ``max_tokens`` 16); every other input is a template variable. The template is
rendered and split into messages by ``_chat_format``.

The calls go through the ``openai`` client (any OpenAI-compatible server, Azure OpenAI, a
serverless endpoint), with the client's own retries off so that one policy applies: 429, 5xx,
timeouts and connection errors are retried with exponential backoff (``Retry-After`` honoured),
bounded by ``EMBER_FLOW_LLM_MAX_RETRIES`` (retries after the first attempt, default 5) and
``EMBER_FLOW_LLM_MAX_WAIT_S`` (total backoff, default 300 s); ``EMBER_FLOW_LLM_BACKOFF_S`` (default
1 s) is the first backoff, doubling up to 60 s; ``EMBER_FLOW_LLM_TIMEOUT`` (default 600 s, as
promptflow) bounds each request, a node input ``request_timeout`` overrides it. All are read at
call time. Clients are cached per connection (and per event loop for the async ones, whose
connection pool belongs to the loop) so a batch reuses its HTTP connections; ``await
close_clients()`` before a loop ends closes that loop's clients cleanly.

Failures of the call are ``EndpointRequestError`` naming the node (``status`` 429/5xx/4xx as the
server answered, 504 for a timeout, 502 for an unreachable server); a bad input is
``InvalidInputError``, a missing connection ``NotFoundError``, a template that does not parse
``SpecError`` (file and line). No message, span or log carries the API key.

Streaming (``ctx.stream``): ``run_llm_node`` returns a plain **synchronous** generator of text
pieces. The request is opened (and retried) before it returns, so a refused call fails the node;
the pieces are read on the sync client as the caller iterates (iterate it off the event loop,
e.g. in a thread or a Starlette streaming response). The LLM span ends when the request is open;
its outputs, token usage and end time are filled in when the generator is exhausted or closed, so
export a streamed line's spans after its outputs have been consumed. With ``tools`` or
``functions`` the node does not stream: it returns the message dict, as without streaming.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from openai.types import Completion
from openai.types.chat import ChatCompletion

from ember.errors import InvalidInputError, NotFoundError
from ember.flows import _chat_format as cf
from ember.flows import _openai_calls as oc
from ember.flows import trace
from ember.flows._openai_calls import close_clients
from ember.flows.connections import _Connection
from ember.flows.node_context import NodeContext

__all__ = ["close_clients", "run_embedding", "run_embedding_node", "run_llm_node",
           "run_prompt_node"]

# Request parameters of promptflow's chat() and completion() tools (promptflow-tools 1.6) and the
# type each is converted to; ``max_completion_tokens`` added for reasoning models (upstream #3795).
_FLOAT = "float"
_INT = "int"
_BOOL = "bool"
_ANY = "any"
CHAT_PARAMS = {"temperature": _FLOAT, "top_p": _FLOAT, "stop": _ANY, "max_tokens": _INT,
               "max_completion_tokens": _INT, "presence_penalty": _FLOAT,
               "frequency_penalty": _FLOAT, "logit_bias": _ANY, "user": _ANY,
               "function_call": _ANY, "functions": _ANY, "tool_choice": _ANY, "tools": _ANY,
               "response_format": _ANY, "seed": _INT}
COMPLETION_PARAMS = {"suffix": _ANY, "max_tokens": _INT, "temperature": _FLOAT, "top_p": _FLOAT,
                     "n": _INT, "logprobs": _INT, "echo": _BOOL, "stop": _ANY,
                     "presence_penalty": _FLOAT, "frequency_penalty": _FLOAT, "best_of": _INT,
                     "logit_bias": _ANY, "user": _ANY, "seed": _INT}
# Inputs that are never template variables: the model, the executor-only ``stream`` (promptflow
# ignores it in node inputs), the per-request timeout and a package tool's connection.
_CONTROL = ("deployment_name", "model", "stream", "request_timeout", "connection")
_CHAT_DEFAULTS = {"temperature": 1.0, "top_p": 1.0}
_COMPLETION_DEFAULTS = {"max_tokens": 16, "temperature": 1.0, "top_p": 1.0}
_FLOW_REF = re.compile(r"^\s*\$\{\s*(inputs|flow)\.")


# ---- prompt node ---------------------------------------------------------------------------

def run_prompt_node(ctx: NodeContext, inputs: dict[str, Any]) -> str:
    """Render the node's Jinja2 template with its inputs. The result is a ``str`` (a subclass
    carrying the injection guard's placeholders, for an llm node that renders it again)."""
    what = f"prompt node {ctx.node.name!r}"
    template, where, inline = _template(ctx, inputs, what)
    if inline:
        inputs = {k: v for k, v in inputs.items() if k != "prompt"}
    variables, mapping = cf.guarded_variables(inputs, _from_flow_inputs(ctx, inputs))
    text = cf.render(template, inputs, what=what, where=where)
    if not mapping:
        return text
    escaped = cf.render(template, variables, what=what, where=where)
    return cf.PromptResult(text, escaped, mapping)


# ---- llm node ------------------------------------------------------------------------------

async def run_llm_node(ctx: NodeContext, inputs: dict[str, Any]) -> Any:
    """Render, call the model, return the content string; the message dict when ``tools`` or
    ``functions`` are given; a sync generator of text pieces when ``ctx.stream`` (see the module
    docstring)."""
    node = ctx.node
    what = f"llm node {node.name!r}"
    api = (ctx.overrides.get("api") or node.api or "chat").lower()
    if api not in ("chat", "completion"):
        raise InvalidInputError(f"{what}: api {api!r} is not one of chat, completion")
    merged = {**inputs, **{k: v for k, v in ctx.overrides.items()
                           if k not in ("connection", "api")}}
    spec = CHAT_PARAMS if api == "chat" else COMPLETION_PARAMS
    params = dict(_CHAT_DEFAULTS if api == "chat" else _COMPLETION_DEFAULTS)
    variables: dict[str, Any] = {}
    for key, value in merged.items():
        if key in spec:
            converted = _convert(what, key, value, spec[key])
            # Exported flows write unset parameters as "" (``stop: ""``, ``logit_bias: ""``).
            if converted is None or converted in ("", [], {}):
                params.pop(key, None)
            else:
                params[key] = converted
        elif key not in _CONTROL:
            variables[key] = value
    tools = params.get("tools") or params.get("functions")
    if not params.get("tools"):
        params.pop("tool_choice", None)
    if not params.get("functions"):
        params.pop("function_call", None)

    conn_name = ctx.overrides.get("connection") or node.connection
    plain = _connection_plain(ctx, what, conn_name)
    model = _model_for(plain, ctx.overrides, inputs, what)
    timeout = _timeout(merged.get("request_timeout"), what)

    template, where, inline = _template(ctx, inputs, what)
    if inline:
        variables.pop("prompt", None)
    variables = cf.as_chat_lists(variables)
    guarded, mapping = cf.guarded_variables(variables, _from_flow_inputs(ctx, inputs))
    rendered = cf.render(template, guarded, what=what, where=where)
    if api == "chat":
        request: dict[str, Any] = {"model": model, "messages": cf.parse_chat(
            rendered, what=what, mapping=mapping), **params}
    else:
        request = {"model": model, "prompt": cf.unescape(rendered, mapping), **params}

    stream = ctx.stream and not tools
    span_type = trace.CHAT_MODEL if api == "chat" else trace.LLM
    with ctx.tracer.span(f"openai_{api}", span_type, inputs=dict(request),
                         attributes={"node_name": node.name, "mlflow.message.format": "openai",
                                     "mlflow.llm.model": model}) as span:
        if stream:
            client = oc.sync_client(plain)
            opened = await oc.stream_open(what, client, api, request, timeout, plain)
            return oc.pieces(opened, span, api, what, plain)
        aclient = oc.async_client(plain)
        # The client's own POST with the finished body: ``create(**request)`` first walks
        # every argument through openai's TypedDict transforms, which was 40 % of a batch
        # run's CPU against a fast server; the body here is plain JSON already. The path,
        # Azure's deployment rewrite, errors and the typed response are the client's as ever.
        path, cast = (("/chat/completions", ChatCompletion) if api == "chat"
                      else ("/completions", Completion))
        response: Any = await oc.with_retries(what, lambda: aclient.post(
            path, body=request, cast_to=cast, options={"timeout": timeout}), timeout, plain)
        span.set_attribute("llm.response.model", response.model)
        oc.set_usage(span, response.usage)
        if api == "completion":
            result: Any = response.choices[0].text if response.choices else ""
        elif tools:
            result = response.model_dump()["choices"][0]["message"]
        else:
            result = response.choices[0].message.content or ""
        span.set_outputs(result)
        return result


# ---- embedding tool ------------------------------------------------------------------------

async def run_embedding(ctx: NodeContext, inputs: dict[str, Any]) -> list[float]:
    """promptflow's ``promptflow.tools.embedding.embedding``: ``connection`` (a name, a plain
    form or a connection object), ``deployment_name`` / ``model``, ``input`` → the vector."""
    what = f"embedding node {ctx.node.name!r}"
    merged = {**inputs, **{k: v for k, v in ctx.overrides.items() if k != "connection"}}
    conn = ctx.overrides.get("connection") or inputs.get("connection") or ctx.node.connection
    if isinstance(conn, _Connection):
        plain = _usable(what, {"type": conn.type, **vars(conn)})
    elif isinstance(conn, Mapping):
        plain = _usable(what, dict(conn))
    else:
        plain = _connection_plain(ctx, what, conn)
    model = _model_for(plain, ctx.overrides, merged, what, default="text-embedding-ada-002")
    text = merged.get("input")
    if not isinstance(text, str):
        raise InvalidInputError(f"{what}: input must be a string, got {type(text).__name__}")
    timeout = _timeout(merged.get("request_timeout"), what)
    client = oc.async_client(plain)
    with ctx.tracer.span("openai_embedding", trace.EMBEDDING,
                         inputs={"model": model, "input": text},
                         attributes={"node_name": ctx.node.name,
                                     "mlflow.llm.model": model}) as span:
        response = await oc.with_retries(
            what, lambda: client.embeddings.create(model=model, input=text, timeout=timeout),
            timeout, plain)
        span.set_attribute("llm.response.model", response.model)
        if response.usage is not None:
            span.set_token_usage(response.usage.prompt_tokens, 0)
        vector = list(response.data[0].embedding)
        span.set_outputs(f"<{len(vector)} floats>")
        return vector


# ---- inputs --------------------------------------------------------------------------------

def _convert(what: str, key: str, value: Any, kind: str) -> Any:
    """promptflow's conversion of quoted YAML literals to the tool's annotated types."""
    # "" is unset; a blank number is too, but ``stop: "\n"`` is a stop sequence.
    if value is None or value == "" or (kind != _ANY and isinstance(value, str)
                                        and not value.strip()):
        return None
    try:
        if kind == _FLOAT and not isinstance(value, bool):
            return float(value)
        if kind == _INT and not isinstance(value, bool):
            if isinstance(value, str):
                value = value.strip()
                return int(float(value)) if re.fullmatch(r"-?\d+\.0*", value) else int(value)
            return int(value)
        if kind == _BOOL:
            return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what}: input {key!r} must be a number, got "
                                f"{value!r}") from None
    if kind == _ANY and isinstance(value, str) and key not in ("user", "suffix") \
            and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidInputError(f"{what}: input {key!r} is not valid JSON") from None
    if kind != _ANY:
        raise InvalidInputError(f"{what}: input {key!r} must be a number, got {value!r}")
    return value


def _template(ctx: NodeContext, inputs: Mapping[str, Any], what: str
              ) -> tuple[Any, str, bool]:
    """The node's template, where it comes from (for errors), and whether it is inline: the
    node's source file, or, for promptflow-tools' package tools without one, the ``prompt``
    input's text."""
    if not ctx.node.source.path and isinstance(inputs.get("prompt"), str):
        return cf.template_from_text(inputs["prompt"], what), "input 'prompt'", True
    path = ctx.flow.source_path(ctx.node)
    return cf.load_template(path), str(path), False


def _from_flow_inputs(ctx: NodeContext, inputs: Mapping[str, Any]) -> set[str]:
    """Names of the inputs whose values came from flow inputs (references to ``inputs.*``, or
    the flow input value itself)."""
    names = set()
    for key, value in inputs.items():
        raw = ctx.node.inputs.get(key)
        if (isinstance(raw, str) and _FLOW_REF.match(raw)) or any(
                value is v for v in ctx.flow_inputs.values()):
            names.add(key)
    return names


def _timeout(value: Any, what: str) -> float:
    raw = value if value not in (None, "") else os.environ.get("EMBER_FLOW_LLM_TIMEOUT", "600")
    try:
        timeout = float(raw)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what}: request_timeout must be a number of seconds, got "
                                f"{raw!r}") from None
    if timeout <= 0:
        raise InvalidInputError(f"{what}: request_timeout must be positive, got {raw!r}")
    return timeout


# ---- connections and clients ---------------------------------------------------------------

def _connection_plain(ctx: NodeContext, what: str, name: Any) -> dict[str, Any]:
    if not name:
        raise InvalidInputError(f"{what} names no connection (set 'connection:' on the node)")
    try:
        plain = ctx.connections.get(str(name))
    except NotFoundError as exc:
        raise NotFoundError(f"{what}: {exc.message}") from None
    return _usable(what, {**plain, "name": plain.get("name") or name})


def _usable(what: str, plain: dict[str, Any]) -> dict[str, Any]:
    if plain.get("type") not in ("open_ai", "azure_open_ai", "serverless"):
        raise InvalidInputError(
            f"{what}: connection {plain.get('name')!r} has type {plain.get('type')!r}; an llm "
            f"call needs an open_ai, azure_open_ai or serverless connection")
    return plain


def _model_for(plain: Mapping[str, Any], overrides: Mapping[str, Any],
               inputs: Mapping[str, Any], what: str, default: str = "") -> str:
    """Azure OpenAI calls a deployment (``deployment_name``); the others a ``model``. An
    override (``--connections node.deployment_name=x``) beats the node's inputs."""
    azure = plain.get("type") == "azure_open_ai"
    order = ("deployment_name", "model") if azure else ("model", "deployment_name")
    for source in (overrides, inputs):
        for key in order:
            if source.get(key):
                return str(source[key])
    if azure:
        raise InvalidInputError(f"{what}: an azure_open_ai connection needs deployment_name")
    return default


# The name the engine's package-tool mapping looks up.
run_embedding_node = run_embedding
