"""Value conversion to promptflow's value types (``string``, ``int``, ``double``, ``bool``,
``list``, ``object``): flow inputs on each line, and quoted YAML literals (``"256"``) for a
python tool's annotated parameters. Strings convert as promptflow's ``ValueType.parse`` does:
numbers by ``int()``/``float()``, booleans from ``true``/``false``, lists and objects as JSON."""

from __future__ import annotations

import json
from typing import Any


def convert(value: Any, kind: str | None) -> Any:
    """``value`` as ``kind``; None (no type known, or ``image``) passes it through. Raises
    ValueError with a short reason when it cannot convert."""
    if kind is None or value is None or kind == "image":
        return value
    if kind == "string":
        if isinstance(value, str):
            return value
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is a boolean, not an int")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not an int")
    if kind == "double":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is a boolean, not a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not a number")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(f"{value!r} is not a boolean (true or false)")
    if kind in ("list", "object"):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a JSON {kind}") from None
        if kind == "list" and isinstance(value, (list, tuple)):
            return list(value)
        if kind == "object" and isinstance(value, dict):
            return value
        raise ValueError(f"{value!r} is not a{'n' if kind == 'object' else ''} {kind}")
    return value
