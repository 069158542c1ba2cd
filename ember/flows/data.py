"""A batch run's data and column mapping.

Data files are jsonl (one object per line; blank lines skipped), json (a list of objects), csv or
tsv; a folder means the one data file in it. Every problem names the file and the line: promptflow
answers bad JSON on line 7 with "Fail to load invalid data" and no line, which leaves the user to
bisect a 100,000-line file.

Column mapping (promptflow's rules, quirk included): for each flow input, an explicit mapping wins,
then the flow input's default, then a data column of the same name. Mapping values are
``${data.col}``, ``${run.inputs.x}``, ``${run.outputs.x}`` (those two need a base run) or a literal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.flows.dag import MISSING, Flow

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
_MAPPING = re.compile(r"^\$\{(data|run\.inputs|run\.outputs)\.([^}]+)\}$")
_LINE_NUMBER = "line_number"


def data_file(path: Path) -> Path:
    """The data file ``path`` names: itself, or the one data file in a folder."""
    if not path.exists():
        raise InvalidInputError(f"data {path}: no such file or folder")
    if path.is_file():
        return path
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if len(found) != 1:
        raise InvalidInputError(
            f"data folder {path} holds {len(found)} data files ({', '.join(SUFFIXES)}); "
            "point --data at one file or a folder with exactly one")
    return found[0]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a data file, each a dict. Raises InvalidInputError naming file and line."""
    path = data_file(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); "
                                "save the file as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_json(path, text)
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, text, "\t" if suffix == ".tsv" else ",")
    return _read_jsonl(path, text)


def _read_jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{number}: not valid JSON: {exc.msg} "
                                    f"(column {exc.colno})") from None
        if not isinstance(row, dict):
            raise InvalidInputError(f"{path}:{number}: a line must be a JSON object, "
                                    f"not {type(row).__name__}")
        rows.append(row)
    return rows


def _read_json(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} "
                                f"(column {exc.colno})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInputError(f"{path}: a .json data file holds a list of objects")
    return data


def _read_csv(path: Path, text: str, delimiter: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows: list[dict[str, Any]] = []
    try:
        for row in reader:
            if None in row:
                raise InvalidInputError(f"{path}:{reader.line_num}: more fields than the "
                                        f"header's {len(reader.fieldnames or [])}")
            rows.append(dict(row))
    except csv.Error as exc:
        raise InvalidInputError(f"{path}:{reader.line_num}: {exc}") from None
    return rows


def parse_mapping(mapping: Mapping[str, Any] | None, *, has_run: bool) -> dict[str, Any]:
    """Check a column mapping's values; ``${run...}`` needs a base run."""
    out: dict[str, Any] = {}
    for key, value in (mapping or {}).items():
        if isinstance(value, str) and value.startswith("${"):
            found = _MAPPING.match(value)
            if not found:
                raise InvalidInputError(
                    f"column mapping {key}={value!r}: use ${{data.<column>}}, "
                    "${run.inputs.<name>} or ${run.outputs.<name>}")
            if found[1] != "data" and not has_run:
                raise InvalidInputError(f"column mapping {key}={value!r} reads a base run; "
                                        "give one with --run")
        out[key] = value
    return out


def check_columns(flow: Flow, rows: list[dict[str, Any]], mapping: Mapping[str, Any],
                  source: str) -> None:
    """Refuse a mapping that names a column no row has, before any line runs."""
    columns: set[str] = set()
    for row in rows:
        columns.update(row)
    for key, value in mapping.items():
        found = _MAPPING.match(value) if isinstance(value, str) else None
        if found and found[1] == "data" and found[2] not in columns:
            raise InvalidInputError(
                f"column mapping {key}={value!r}: {source} has no column {found[2]!r} "
                f"(columns: {', '.join(sorted(columns)) or 'none'})")
    unknown = sorted(set(mapping) - set(flow.inputs))
    if unknown:
        raise InvalidInputError(f"column mapping names {', '.join(unknown)}, which the flow "
                                f"does not take (inputs: {', '.join(flow.inputs) or 'none'})")


def line_inputs(flow: Flow, row: Mapping[str, Any], mapping: Mapping[str, Any],
                base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The flow inputs of one line. ``base`` is the base run's line: ``{"inputs", "outputs"}``.
    An input with neither mapping, default nor column is left out (the executor reports it)."""
    inputs: dict[str, Any] = {}
    for name, spec in flow.inputs.items():
        if name in mapping:
            inputs[name] = _mapped(mapping[name], row, base, name)
        elif spec.default is not MISSING:
            inputs[name] = spec.default
        elif name in row:
            inputs[name] = row[name]
    return inputs


def _mapped(value: Any, row: Mapping[str, Any], base: Mapping[str, Any] | None,
            name: str) -> Any:
    found = _MAPPING.match(value) if isinstance(value, str) else None
    if not found:
        return value
    scope, key = found[1], found[2]
    if scope == "data":
        source: Mapping[str, Any] = row
    else:
        source = (base or {}).get(scope.split(".")[1], {})
    if key not in source:
        raise InvalidInputError(f"input {name!r}: {value} is not in this line")
    return source[key]


def row_number(row: Mapping[str, Any], index: int) -> int:
    """A line's number: the data's own ``line_number`` column when it has one (a base run's
    output), else its position."""
    value = row.get(_LINE_NUMBER)
    return value if isinstance(value, int) else index
