"""The components' command-line habits: JSON-encoded parameters (Azure passes lists and dicts as
strings, ``'[]'``, ``'null'``), booleans as Azure writes them, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from ember.errors import EmberError, InvalidInputError

_NULLS = ("", "null", "None", "none")


def json_param(text: str | None, name: str, kind: type | tuple[type, ...],
               default: Any = None, *, allow_null: bool = True) -> Any:
    """``text`` parsed as JSON of type ``kind`` (``'null'``/``'None'`` give ``default``).
    Raises InvalidInputError naming ``name``."""
    if text is None or text.strip() in _NULLS:
        if allow_null:
            return default
        raise InvalidInputError(f"{name}: a value is required")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{name}: not valid JSON ({exc.msg} at character {exc.pos}): "
                                f"{_short(text)}") from None
    if value is None and allow_null:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _kinds(kind):
        want = " or ".join(_JSON_NAMES.get(k, k.__name__) for k in _kinds(kind))
        raise InvalidInputError(f"{name}: expected a JSON {want}, got {_short(text)}")
    return value


def string_list(text: str | None, name: str) -> list[str]:
    """A JSON list of strings (``'[]'`` or ``'null'``: empty)."""
    value = json_param(text, name, list, [])
    if not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"{name}: expected a JSON list of strings, got {_short(text)}")
    return list(value)


def bool_param(text: str | bool, name: str) -> bool:
    if isinstance(text, bool):
        return text
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise InvalidInputError(f"{name}: expected True or False, got {_short(text)}")


def check_columns(names: list[str], columns: list[str], what: str) -> None:
    """Every one of ``names`` is one of ``columns``."""
    missing = [n for n in names if n not in columns]
    if missing:
        raise InvalidInputError(f"{what}: no column {', '.join(map(repr, missing))} in the data "
                                f"(columns: {', '.join(columns)})")


def run_main(work: Callable[[], object]) -> int:
    """Run ``work``; an EmberError is one line on stderr and exit status 2."""
    try:
        work()
    except EmberError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 2
    return 0


def say(line: str) -> None:
    print(f"[ember] {line}", flush=True)


_JSON_NAMES = {list: "list", dict: "object", str: "string", int: "integer", float: "number",
               bool: "boolean"}


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _short(text: str | None) -> str:
    text = text or ""
    return repr(text if len(text) <= 80 else text[:77] + "...")
