"""``--set path.to.key=value`` overrides, applied to a loaded spec before it is validated.

Values are read as YAML scalars (``True`` → bool, ``3`` → int, ``0.1`` → float, anything else a
string); text that YAML would read as a mapping or list (``a: b``, ``[1]``) stays a string, as
a shell user typing it means. Missing intermediate mappings are created; a numeric segment
indexes an existing list (``jobs.0.x``).
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap

from ember.errors import SpecError
from ember.specs.yamlio import load_yaml_text, type_name

_NULL_WORDS = {"", "~", "null", "Null", "NULL"}


def parse_scalar(text: str) -> Any:
    """Read ``text`` as a YAML scalar; fall back to the text itself."""
    try:
        value = load_yaml_text(text, "<override>")
    except SpecError:
        return text
    if value is None:
        # "#x" is a YAML comment, but the user meant the text.
        return None if text.strip() in _NULL_WORDS else text
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return text


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str, *,
                    record: dict[str, str] | None = None) -> None:
    """Apply each ``key.path=value`` of ``overrides`` to ``data`` in place, in order.

    ``source`` is the spec file, named in errors. When ``record`` is given it receives
    ``{dotted path: override text}`` so later validation errors can name the override.
    Raises SpecError for an override without ``=``, an empty key segment, or a path that runs
    through a value that is not a mapping (or a list index that does not exist).
    """
    for text in overrides:
        if not isinstance(text, str) or "=" not in text:
            raise SpecError(f"override {text!r} is not of the form key.path=value",
                            file=source, hint="e.g. --set limits.timeout=3600")
        dotted, raw = text.split("=", 1)
        dotted = dotted.strip()
        parts = dotted.split(".")
        if not all(part.strip() == part and part for part in parts):
            raise SpecError(f"override {text!r} has an empty or padded key segment",
                            file=source, key=dotted)
        _set_path(data, parts, parse_scalar(raw), text, source)
        if record is not None:
            record[dotted] = text


def _set_path(data: Any, parts: list[str], value: Any, text: str, source: str) -> None:
    node = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if last:
                node[part] = value
                return
            child = node.get(part)
            if child is None:
                child = CommentedMap()
                node[part] = child
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SpecError(f"override {text!r}: '{where}' is not an index of the list "
                                f"(it has {len(node)} items)", file=source, key=where)
            if last:
                node[int(part)] = value
                return
            child = node[int(part)]
        else:
            parent = ".".join(parts[:depth])
            raise SpecError(f"override {text!r}: '{parent}' is {type_name(node)}, not a mapping",
                            file=source, key=parent)
        node = child
