"""Command templates: ``${{inputs.x}}``, ``${{outputs.y}}``, ``${{search_space.h}}`` and the
optional segments ``$[[ ... ]]``.

Grammar decisions:

- Spaces inside the braces are tolerated: ``${{ inputs.x }}``.
- ``$[[`` opens an optional segment, the next ``]]`` closes it; segments do not nest. A plain
  ``[[ ... ]]`` (bash tests, nested Python lists) is left alone, and a stray ``]]`` is only an
  error in a command that uses ``$[[`` at all, so ordinary shell never trips on it.
- Rendering inserts values raw, unquoted, as Azure ML does.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from ember.errors import InvalidInputError, SpecError

_TOKEN = re.compile(r"(?P<expr>\$\{\{(?P<body>.*?)\}\})|(?P<unclosed>\$\{\{)"
                    r"|(?P<open>\$\[\[)|(?P<plain>\[\[)|(?P<close>\]\])", re.S)
_REF = re.compile(r"^(inputs|outputs|search_space)\.([A-Za-z_][A-Za-z0-9_]*)$")
_FIND = re.compile(r"\$\{\{\s*(inputs|outputs|search_space)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_CONTINUATION = re.compile(r"\\[ \t]*\r?\n")


@dataclass(frozen=True)
class Expression:
    """One ``${{ ... }}``; ``kind`` is None when it is not inputs/outputs/search_space."""

    kind: str | None
    name: str
    text: str


@dataclass
class Segment:
    """An optional ``$[[ ... ]]`` segment."""

    parts: list[str | Expression] = field(default_factory=list)

    def input_names(self) -> list[str]:
        return [p.name for p in self.parts if isinstance(p, Expression) and p.kind == "inputs"]


Part = Union[str, Expression, Segment]


def find_references(command: str) -> list[tuple[str, str]]:
    """``(kind, name)`` for every ``${{inputs.x}}``, ``${{outputs.y}}``, ``${{search_space.h}}``
    in ``command``, in order (repeats included). Never raises on a malformed template."""
    return [(m[1], m[2]) for m in _FIND.finditer(command)]


def parse_command(command: str) -> list[Part]:
    """Split ``command`` into text, expressions and optional segments.

    Raises InvalidInputError for an unclosed ``${{`` or ``$[[``, a nested ``$[[`` or a stray
    ``]]`` in a command that uses ``$[[``.
    """
    uses_optional = "$[[" in command
    top: list[Part] = []
    segment: Segment | None = None
    depth = outer_depth = 0  # open plain "[[" in the current context / outside the segment
    pos = 0
    for m in _TOKEN.finditer(command):
        current: list[Any] = segment.parts if segment is not None else top
        if m.start() > pos:
            current.append(command[pos:m.start()])
        pos = m.end()
        if m["expr"]:
            found = _REF.match(m["body"].strip())
            current.append(Expression(found[1], found[2], m[0]) if found
                               else Expression(None, m["body"].strip(), m[0]))
        elif m["unclosed"]:
            raise InvalidInputError(f"unclosed '${{{{' at: {_excerpt(command, m.start())}")
        elif m["open"]:
            if segment is not None:
                raise InvalidInputError("'$[[' segments cannot be nested: "
                                        f"{_excerpt(command, m.start())}")
            segment, outer_depth, depth = Segment(), depth, 0
            top.append(segment)
        elif m["plain"]:
            depth += 1
            current.append(m[0])
        elif depth:
            depth -= 1
            current.append(m[0])
        elif segment is not None:
            segment, depth = None, outer_depth
        elif uses_optional:
            raise InvalidInputError(f"']]' without a matching '$[[': {_excerpt(command, m.start())}")
        else:
            current.append(m[0])
    if segment is not None:
        raise InvalidInputError("unclosed '$[[' (an optional segment needs a closing ']]')")
    if pos < len(command):
        top.append(command[pos:])
    return top


def _excerpt(command: str, at: int) -> str:
    return repr(command[max(0, at - 15): at + 25])


def validate_command(command: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                     source: str | None, line: int | None, *,
                     search_space: Collection[str] | None = None, key: str = "command",
                     note: str | None = None) -> None:
    """Check that ``command`` only references declared inputs/outputs, optional inputs only
    inside ``$[[ ... ]]`` and that the template is well formed.

    ``inputs`` maps names to objects with an ``optional`` attribute (JobInput). ``search_space``
    is the hyperparameter names of a sweep trial; None means none may be referenced. ``note``
    is added to every error's hint (e.g. the ``--set`` override that set the command).
    Raises SpecError naming ``source``, ``line`` and ``key``.
    """
    def fail(message: str, hint: str | None = None) -> SpecError:
        if note:
            hint = f"{hint}; {note}" if hint else note
        return SpecError(f"{key}: {message}", file=source, line=line, key=key, hint=hint)

    if not isinstance(command, str) or not command.strip():
        raise fail("must be a non-empty string")
    if _CONTINUATION.search(command):
        raise fail("backslash line continuation is not allowed",
                   hint="write the command as a folded YAML block: 'command: >-'")
    try:
        parts = parse_command(command)
    except InvalidInputError as exc:
        raise fail(exc.message) from None
    for part in parts:
        if isinstance(part, Segment):
            if not part.input_names():
                raise fail("a '$[[ ... ]]' segment must reference an optional input",
                           hint="e.g. $[[--epochs ${{inputs.epochs}}]]")
            for inner in part.parts:
                if isinstance(inner, Expression):
                    _check(inner, True, inputs, outputs, search_space, fail)
        elif isinstance(part, Expression):
            _check(part, False, inputs, outputs, search_space, fail)


def _check(expr: Expression, in_segment: bool, inputs: Mapping[str, Any],
           outputs: Mapping[str, Any], search_space: Collection[str] | None, fail: Any) -> None:
    if expr.kind is None:
        raise fail(f"unsupported expression {expr.text}",
                   hint="a command may use ${{inputs.<name>}} and ${{outputs.<name>}}")
    declared: Collection[str]
    if expr.kind == "search_space":
        if search_space is None:
            raise fail(f"{expr.text} is only allowed in a sweep trial command")
        declared = search_space
    else:
        declared = inputs if expr.kind == "inputs" else outputs
    if expr.name not in declared:
        singular = {"inputs": "input", "outputs": "output"}.get(expr.kind, "hyperparameter")
        raise fail(f"{expr.text} references undeclared {singular} '{expr.name}'",
                   hint=_suggest(expr.name, declared, f"declared {expr.kind}"))
    if expr.kind == "inputs" and not in_segment and getattr(inputs[expr.name], "optional", False):
        raise fail(f"optional input '{expr.name}' must be used inside '$[[ ... ]]'",
                   hint=f"e.g. $[[--{expr.name} {expr.text}]]")


def _suggest(name: str, declared: Collection[str], what: str) -> str:
    close = difflib.get_close_matches(name, list(declared), n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    if declared:
        return f"{what}: {', '.join(sorted(declared))}"
    return f"no {what}"


def render_command(command: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                   search_space: Mapping[str, Any] | None = None) -> str:
    """Substitute values into ``command``.

    A ``$[[ ... ]]`` segment whose inputs all lack a value (None or missing) is dropped whole;
    otherwise its brackets go and its contents are substituted (a missing input there becomes
    ""). Values are inserted raw (``str()`` of non-strings), never shell-quoted.
    Raises InvalidInputError for a malformed template or a value missing outside a segment.
    """
    out: list[str] = []
    for part in parse_command(command):
        if isinstance(part, Segment):
            if all(inputs.get(name) is None for name in part.input_names()):
                continue
            out.extend(_render(p, True, inputs, outputs, search_space) for p in part.parts)
        else:
            out.append(_render(part, False, inputs, outputs, search_space))
    return "".join(out)


def _render(part: str | Expression, in_segment: bool, inputs: Mapping[str, Any],
            outputs: Mapping[str, Any], search_space: Mapping[str, Any] | None) -> str:
    if isinstance(part, str):
        return part
    values = {"inputs": inputs, "outputs": outputs, "search_space": search_space or {}}
    if part.kind is None:
        raise InvalidInputError(f"unsupported expression {part.text} in command")
    value = values[part.kind].get(part.name)
    if value is None:
        if in_segment and part.kind == "inputs":
            return ""
        raise InvalidInputError(f"no value for {part.text} in command")
    return value if isinstance(value, str) else str(value)
