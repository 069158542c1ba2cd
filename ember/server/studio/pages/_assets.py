"""What the models and data pages share: grouping an asset's versions, tag filters, reading
a file's text for display, and an MLflow model's signature from its MLmodel file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

MAX_TEXT_BYTES = 512 * 1024   # a larger file is offered for download, not shown


def latest_by_name(versions: Iterable[dict[str, Any]],
                   key: str = "creation_time") -> list[dict[str, Any]]:
    """One row per name, its newest version, with ``version_count``; names in order."""
    rows: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for v in versions:
        counts[v["name"]] = counts.get(v["name"], 0) + 1
        best = rows.get(v["name"])
        if best is None or (v.get(key) or 0) > (best.get(key) or 0):
            rows[v["name"]] = v
    return [{**rows[n], "version_count": counts[n]} for n in sorted(rows, key=str.lower)]


def tag_matches(tags: dict[str, str], wanted: str) -> bool:
    """``key`` (any value) or ``key=value``, case-insensitive."""
    if not wanted:
        return True
    key, has_value, value = wanted.partition("=")
    lowered = {k.lower(): str(v).lower() for k, v in tags.items()}
    if key.strip().lower() not in lowered:
        return False
    return not has_value or lowered[key.strip().lower()] == value.strip().lower()


def as_text(content: Any) -> str | None:
    """A file's content as text, or None for a binary file."""
    if isinstance(content, (dict, list)):
        return json.dumps(content, indent=2)
    if isinstance(content, str):
        return content
    raw = bytes(content or b"")
    if b"\x00" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _columns(raw: Any) -> list[dict[str, str]]:
    """MLflow's schema JSON (a string in MLmodel) as rows: name, type, shape, required."""
    try:
        spec = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return [{"name": "", "type": str(raw), "shape": "", "required": ""}]
    if not isinstance(spec, list):
        return []
    rows = []
    for col in spec:
        if not isinstance(col, dict):
            continue
        tensor = col.get("tensor-spec") if isinstance(col.get("tensor-spec"), dict) else None
        kind = str(tensor.get("dtype", "")) if tensor else str(col.get("type", ""))
        if col.get("type") == "tensor" and tensor:
            kind = f"tensor of {kind}"
        elif col.get("type") in ("array", "object") and col.get("items"):
            kind = f"{col['type']} of {json.dumps(col['items'])}"
        shape = tensor.get("shape") if tensor else None
        rows.append({"name": str(col.get("name") or "(unnamed)"), "type": kind,
                     "shape": "" if shape is None else str(tuple(shape)),
                     "required": "no" if col.get("required") is False else "yes"})
    return rows


def mlmodel_signature(text: str) -> dict[str, Any] | None:
    """An MLmodel file's signature as {"inputs", "outputs", "params"} rows, or None."""
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError:
        return None
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        return None
    params = []
    try:
        raw = signature.get("params")
        for p in (json.loads(raw) if isinstance(raw, str) else raw) or []:
            if isinstance(p, dict):
                params.append({"name": str(p.get("name", "")), "type": str(p.get("type", "")),
                               "default": json.dumps(p.get("default")),
                               "shape": str(p.get("shape") or "")})
    except ValueError:
        params = []
    return {"inputs": _columns(signature.get("inputs")),
            "outputs": _columns(signature.get("outputs")), "params": params}
