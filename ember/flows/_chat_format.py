"""Prompt templates of ``prompt`` and ``llm`` nodes: Jinja2 rendering and promptflow's chat format.

Kept apart from ``llm.py`` because it is pure text handling (no I/O beyond reading the template),
which the tests exercise directly.

- Templates render in Jinja2's ``SandboxedEnvironment`` (a flow folder is untrusted input; upstream
  switched to the sandbox in 2025) with ``trim_blocks`` and ``keep_trailing_newline``, as
  promptflow renders them, so the same template gives byte-identical prompts.
- The chat format: a line ``role:`` (optional leading ``#``, any case, roles system, user,
  assistant, function, tool) starts a message; inside a message ``## name:`` / ``## content:``,
  ``## tool_calls:`` (assistant) and ``## tool_call_id:`` (tool) are recognised.
- Injection guard: role markers found in values that came from flow inputs are swapped for random
  placeholders before the rendered text is split, and swapped back in the messages afterwards, so
  a user typing ``system:`` on a line of their question cannot open a new turn.
"""

from __future__ import annotations

import ast
import hashlib
import re
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ember.errors import InvalidInputError, SpecError

VALID_ROLES = ("system", "user", "assistant", "function", "tool")
_ROLE_LINE = re.compile(r"(?im)^\s*#?\s*(" + "|".join(VALID_ROLES) + r")\s*:\s*\n")
_NAME_CONTENT = re.compile(r"\n*#{0,2}\s*name\s*:\s*\n+\s*(\S+)\s*\n*#{0,2}\s*content\s*:\s*\n?(.*)",
                           re.DOTALL | re.IGNORECASE)
_TOOL_CALL_ID = re.compile(
    r"\n*#{0,2}\s*tool_call_id\s*:\s*\n+\s*(\S+)\s*\n*#{0,2}\s*content\s*:\s*\n?(.*)",
    re.DOTALL | re.IGNORECASE)
_TOOL_CALLS = re.compile(r"\n*#{0,2}\s*tool_calls\s*:\s*\n+\s*(\[.*?\])\s*$",
                         re.DOTALL | re.IGNORECASE)

_env = SandboxedEnvironment(trim_blocks=True, keep_trailing_newline=True)
_cache_lock = threading.Lock()
# path -> ((mtime_ns, size), template): a long-lived process (a served flow) sees edits.
_templates: dict[str, tuple[tuple[int, int], jinja2.Template]] = {}


class PromptResult(str):
    """A prompt node's output: the rendered text, plus the escaped rendering and its placeholder
    mapping, so an llm node fed by this prompt node keeps the injection guard."""

    escaped: str
    mapping: dict[str, str]

    def __new__(cls, text: str, escaped: str | None = None,
                mapping: dict[str, str] | None = None) -> Self:
        self = super().__new__(cls, text)
        self.escaped = text if escaped is None else escaped
        self.mapping = dict(mapping or {})
        return self


class ChatInputList(list):  # type: ignore[type-arg]
    """A list that renders as its items one per line (``{{chat_history}}`` in a template), as
    promptflow renders list inputs of llm nodes."""

    def __str__(self) -> str:
        return "\n".join(map(str, self))


def load_template(path: Path) -> jinja2.Template:
    """The compiled template at ``path``; a syntax error is a SpecError naming file and line."""
    try:
        st = path.stat()
    except OSError:
        raise SpecError("template file not found", file=str(path)) from None
    stamp = (st.st_mtime_ns, st.st_size)
    key = str(path)
    with _cache_lock:
        hit = _templates.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        text = path.read_text(encoding="utf-8")
        template = _env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(f"template syntax error: {exc.message}", file=str(path),
                        line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read template: {exc}", file=str(path)) from None
    with _cache_lock:
        _templates[key] = (stamp, template)
    return template


def template_from_text(text: str, what: str) -> jinja2.Template:
    """A template given inline (a package tool's ``prompt`` input), cached by its text."""
    key = "text:" + hashlib.sha256(text.encode()).hexdigest()
    with _cache_lock:
        hit = _templates.get(key)
    if hit is not None:
        return hit[1]
    try:
        template = _env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(f"{what}: template syntax error in input 'prompt': {exc.message}",
                        line=exc.lineno) from None
    with _cache_lock:
        _templates[key] = ((0, 0), template)
    return template


def render(template: jinja2.Template, variables: Mapping[str, Any], *, what: str,
           where: str) -> str:
    """Render; failures (undefined attributes, the sandbox refusing) name the node and file."""
    try:
        return template.render(**variables)
    except jinja2.TemplateError as exc:
        raise InvalidInputError(f"{what}: rendering {where} failed: {type(exc).__name__}: "
                                f"{exc}") from None
    except Exception as exc:  # a filter or a value's __str__ raising
        raise InvalidInputError(f"{what}: rendering {where} failed: {type(exc).__name__}: "
                                f"{exc}") from exc


def as_chat_lists(value: Any) -> Any:
    """Lists (nested in dicts too) as ChatInputList, so they render one item per line."""
    if isinstance(value, dict):
        return {k: as_chat_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return ChatInputList(as_chat_lists(v) for v in value)
    return value


# ---- the injection guard -------------------------------------------------------------------

def find_roles(value: Any, mapping: dict[str, str]) -> dict[str, str]:
    """Add a placeholder for each role marker spelling found in ``value`` (strings inside lists
    and dicts too) to ``mapping`` (placeholder -> role text as written)."""
    if isinstance(value, str):
        for role in _ROLE_LINE.findall(value):
            if role not in mapping.values():
                # One placeholder per spelling ("System" and "system" differ) so the swap back
                # restores exactly what the user wrote.
                mapping[f"role-{uuid.uuid4().hex}"] = role
    elif isinstance(value, Mapping):
        for item in value.values():
            find_roles(item, mapping)
    elif isinstance(value, (list, tuple)):
        for item in value:
            find_roles(item, mapping)
    return mapping


def escape(value: Any, mapping: Mapping[str, str]) -> Any:
    """A copy of ``value`` with every role spelling in ``mapping`` replaced by its placeholder."""
    if not mapping:
        return value
    if isinstance(value, PromptResult):
        return value
    if isinstance(value, str):
        for placeholder, role in mapping.items():
            value = value.replace(role, placeholder)
        return value
    if isinstance(value, ChatInputList):
        return ChatInputList(escape(v, mapping) for v in value)
    if isinstance(value, list):
        return [escape(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: escape(v, mapping) for k, v in value.items()}
    return value


def unescape(value: Any, mapping: Mapping[str, str]) -> Any:
    if not mapping:
        return value
    if isinstance(value, str):
        for placeholder, role in mapping.items():
            value = value.replace(placeholder, role)
        return value
    if isinstance(value, list):
        return [unescape(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: unescape(v, mapping) for k, v in value.items()}
    return value


def guarded_variables(variables: Mapping[str, Any], from_flow_inputs: set[str]
                      ) -> tuple[dict[str, Any], dict[str, str]]:
    """Template variables with role markers in flow-input values (and in prompt-node outputs
    that carry their own mapping) swapped for placeholders; returns them and the mapping."""
    mapping: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, PromptResult):
            mapping.update(value.mapping)
        elif name in from_flow_inputs:
            find_roles(value, mapping)
    out: dict[str, Any] = {}
    for name, value in variables.items():
        if isinstance(value, PromptResult):
            out[name] = value.escaped
        elif name in from_flow_inputs:
            out[name] = escape(value, mapping)
        else:
            out[name] = value
    return out, mapping


# ---- the chat format -----------------------------------------------------------------------

def parse_chat(text: str, *, what: str, mapping: Mapping[str, str] | None = None
               ) -> list[dict[str, Any]]:
    """The messages of a rendered chat prompt (see the module docstring)."""
    mapping = mapping or {}
    # re.split with one group: [before, role1, body1, role2, body2, ...]
    parts = _ROLE_LINE.split(text)
    head, pairs = parts[0], parts[1:]
    if head.strip() and not pairs:
        raise InvalidInputError(
            f"{what}: the chat prompt has no role line; start each message with a line such "
            f"as 'system:' or '# user:' (roles: {', '.join(VALID_ROLES)}), or use api: "
            f"completion")
    if head.strip():
        raise InvalidInputError(
            f"{what}: text before the first role line: {unescape(head.strip(), mapping)[:80]!r}; "
            f"start the prompt with a line such as 'system:' or '# user:'")
    messages: list[dict[str, Any]] = []
    for i in range(0, len(pairs), 2):
        role, body = pairs[i].lower(), pairs[i + 1]
        messages.append(_message(role, body, what))
    return [{k: unescape(v, mapping) for k, v in m.items()} for m in messages]


def _message(role: str, body: str, what: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role}
    if role == "tool":
        match = _TOOL_CALL_ID.match(body)
        if match is None:
            raise InvalidInputError(
                f"{what}: a tool message needs '## tool_call_id:' (the id on the next line) "
                f"then '## content:'")
        message["tool_call_id"] = match.group(1)
        message["content"] = match.group(2).strip()
        return message
    if role == "assistant":
        match = _TOOL_CALLS.match(body)
        if match is not None:
            try:
                calls = ast.literal_eval(match.group(1))
            except (ValueError, SyntaxError):
                calls = None
            if isinstance(calls, list):
                message["tool_calls"] = calls
                message["content"] = None
                return message
    match = _NAME_CONTENT.match(body)
    if match is not None:
        message["name"] = match.group(1)
        message["content"] = match.group(2).strip()
    elif role == "function":
        raise InvalidInputError(
            f"{what}: a function message needs '## name:' (the function name on the next "
            f"line) then '## content:'")
    else:
        message["content"] = body.strip()
    return message
