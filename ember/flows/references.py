"""The ``${...}`` reference grammar of ``flow.dag.yaml`` and its resolution.

Only a string that is wholly ``${...}`` is a reference (promptflow's rule); anything else,
``"Hi ${inputs.x}"`` included, is a literal. The forms:

    ${inputs.x}            a flow input (``${flow.x}`` is the legacy spelling of the same)
    ${node}                a node's output (same as ``${node.output}``)
    ${node.output}
    ${node.output.a.b}     a walk into the output: dict keys or attributes
    ${node.output[0]}      list index; ``['k']`` / ``["k"]`` for keys with dots or spaces

Parsing is pure; ``resolve`` walks a value and raises :class:`ResolveError` naming the
reference, the node and the step that was missing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ember.errors import InvalidInputError

_WHOLE = re.compile(r"^\$\{(?P<body>[^{}]*)\}$")
_NAME = re.compile(r"[A-Za-z_][\w\-]*")
_INDEX = re.compile(r"\[\s*(?:(?P<int>-?\d+)|'(?P<sq>[^']*)'|\"(?P<dq>[^\"]*)\")\s*\]")


class ReferenceSyntaxError(ValueError):
    """A ``${...}`` string that is not a valid reference."""


class ResolveError(InvalidInputError):
    """A reference whose value is not there (a missing input, node output or field)."""


@dataclass(frozen=True)
class Reference:
    """``kind`` is ``"inputs"`` (a flow input) or ``"node"``; ``name`` the input or node;
    ``path`` the steps into the value (str keys/attributes, int indexes)."""

    kind: str
    name: str
    path: tuple[str | int, ...] = field(default=())
    text: str = ""

    @property
    def is_node(self) -> bool:
        return self.kind == "node"

    def __str__(self) -> str:
        return self.text or f"${{{self.name}}}"


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and _WHOLE.match(value.strip()) is not None


def parse(value: Any) -> Reference | None:
    """The reference ``value`` holds, or None for a literal. Raises ReferenceSyntaxError when
    it is shaped ``${...}`` but malformed (``${}``, ``${node.inputs}``, ``${a.output[x}``)."""
    if not isinstance(value, str):
        return None
    return _parse_text(value)


# A flow's few reference strings are parsed again for every node of every line; Reference is
# immutable, so each string is parsed once (a malformed one raises each time: not cached).
@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> Reference | None:
    match = _WHOLE.match(value.strip())
    if match is None:
        return None
    body = match["body"].strip()
    text = value.strip()
    head = _NAME.match(body)
    if head is None:
        raise ReferenceSyntaxError(f"{text!r} is not a valid reference (expected ${{inputs.x}} "
                                   "or ${node.output})")
    name, rest = head.group(0), body[head.end():]
    if name in ("inputs", "flow"):
        steps = _steps(rest, text)
        if not steps or not isinstance(steps[0], str):
            raise ReferenceSyntaxError(f"{text!r} names no flow input (expected ${{inputs.x}})")
        return Reference("inputs", steps[0], tuple(steps[1:]), text)
    steps = _steps(rest, text)
    if steps:
        if steps[0] != "output":
            raise ReferenceSyntaxError(
                f"{text!r}: only a node's output can be referenced (${{{name}.output}}), "
                f"not {steps[0]!r}")
        steps = steps[1:]
    return Reference("node", name, tuple(steps), text)


def _steps(rest: str, text: str) -> list[str | int]:
    steps: list[str | int] = []
    pos = 0
    while pos < len(rest):
        if rest[pos] == ".":
            # Keys after a dot may hold anything but a dot or a bracket (``a.b-c``, ``a.1``).
            end = pos + 1
            while end < len(rest) and rest[end] not in ".[":
                end += 1
            key = rest[pos + 1:end].strip()
            if not key:
                raise ReferenceSyntaxError(f"{text!r} has an empty step after a dot")
            steps.append(key)
            pos = end
            continue
        index = _INDEX.match(rest, pos)
        if index is None:
            raise ReferenceSyntaxError(f"{text!r} is not a valid reference near {rest[pos:]!r}")
        if index["int"] is not None:
            steps.append(int(index["int"]))
        else:
            steps.append(index["sq"] if index["sq"] is not None else index["dq"])
        pos = index.end()
    return steps


def walk(value: Any, path: tuple[str | int, ...], ref: Reference) -> Any:
    """Follow ``path`` into ``value``: mapping keys, list indexes, then attributes."""
    for depth, step in enumerate(path):
        try:
            if isinstance(value, Mapping):
                value = value[step]
            elif isinstance(step, int) or (isinstance(value, (list, tuple))
                                           and isinstance(step, str) and step.isdigit()):
                value = value[int(step)]
            else:
                value = getattr(value, str(step))
        except (KeyError, IndexError, AttributeError, TypeError):
            where = _path_text(path[:depth + 1])
            owner = (f"the output of node {ref.name!r}" if ref.is_node
                     else f"flow input {ref.name!r}")
            raise ResolveError(f"{ref}: {owner} has no {where} "
                               f"(the value there is {_describe(value)})") from None
    return value


def _path_text(path: tuple[str | int, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text.lstrip(".")


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(repr(k) for k in list(value)[:8])
        return f"a mapping with keys {keys}" if keys else "an empty mapping"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


def resolve(ref: Reference, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """The value ``ref`` names, given the line's flow inputs and the node outputs so far."""
    if ref.kind == "inputs":
        if ref.name not in inputs:
            raise ResolveError(f"{ref}: the flow has no input {ref.name!r}")
        return walk(inputs[ref.name], ref.path, ref)
    if ref.name not in outputs:
        raise ResolveError(f"{ref}: node {ref.name!r} has no output (it did not run)")
    return walk(outputs[ref.name], ref.path, ref)


def resolve_value(value: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """``value`` itself when it is a literal, else what its reference names."""
    ref = parse(value)
    return value if ref is None else resolve(ref, inputs, outputs)
