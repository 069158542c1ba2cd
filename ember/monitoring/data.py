"""A monitor's data: a deployment's collected payloads in a time window, and tabular files.

Collected payloads are the router's JSON lines (``<folder>/YYYY/MM/DD/HH/data.jsonl``, one
record per request: ``{"id", "time", "endpoint", "deployment", "data", "latency_ms"?}``). A
request's ``data`` becomes rows in any of the shapes a scoring route takes:
``{"input_data": {"columns": [...], "data": [[...]]}}`` (Azure's split form), ``{"input_data":
[{...}]}`` / ``{"data": [...]}`` / ``{"dataframe_records": [...]}`` / ``{"dataframe_split":
{...}}`` / ``{"instances": [...]}`` / ``{"inputs": {...}}``, a list of row objects, or one row
object. A response's ``data`` is a list of predictions (one per row), ``{"predictions": [...]}``,
or rows. Each row keeps its request's ``id`` as ``correlation_id`` (``<id>_<n>`` when a request
held several rows), which joins predictions with inputs and with ground truth.

Tabular files: CSV, TSV, JSON lines, Parquet (needs pyarrow), or an MLTable folder naming them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ember.errors import InvalidInputError

CORRELATION_ID = "correlation_id"
PREDICTION = "prediction"
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


@dataclass
class Table:
    """Columns of equal length (numpy object or float arrays), and what was skipped."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)
    rows: int = 0
    skipped: int = 0
    # Per collected record: the request id, its time, and its latency (ms) when recorded.
    records: list[dict[str, Any]] = field(default_factory=list)

    def __contains__(self, name: str) -> bool:
        return name in self.columns


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


# --- collected payloads ------------------------------------------------------------------------


def collected_files(folder: Path, start: float | None, end: float | None) -> list[Path]:
    """The hourly files under ``folder`` that may hold records in ``[start, end)``."""
    if not folder.is_dir():
        raise InvalidInputError(f"no collected data at {folder}: is data_collector enabled "
                                "on the deployment, and has it received requests?")
    low = _hour(start) if start is not None else None
    high = _hour(end) if end is not None else None
    found: list[Path] = []
    for path in sorted(folder.glob("*/*/*/*/data.jsonl")):
        parts = path.relative_to(folder).parts[:4]
        if not all(p.isdigit() for p in parts):
            continue
        hour = "/".join(parts)
        if (low is None or hour >= low) and (high is None or hour <= high):
            found.append(path)
    return found


def _hour(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y/%m/%d/%H")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off a table's objects: paused while the table is
    built, and on the way out everything alive is frozen (``gc.freeze``: moved to the permanent
    generation, which collections do not walk). A million collected rows are some ten million
    lists and dicts, with no cycles among them; the collections that walked them while they
    were read and again afterwards took longer than reading them (24 s of CPU against 9 s).
    Reference counting still frees them; only a reference cycle among frozen objects would
    wait for ``gc.unfreeze``. For a one-shot process only: the monitor job's ``main`` wraps its
    run in it; a long-lived caller of the readers should not."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def read_collected(folder: Path, start: float | None = None, end: float | None = None,
                   *, context: str = "model_inputs") -> Table:
    """The rows of the records in ``[start, end)`` (epoch seconds; None: unbounded)."""
    return _read_collected(folder, start, end, context)


def _read_collected(folder: Path, start: float | None, end: float | None,
                    context: str) -> Table:
    low = iso(start) if start is not None else None
    high = iso(end) if end is not None else None
    builder = _Builder()
    records: list[dict[str, Any]] = []
    for path in collected_files(folder, start, end):
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    builder.skipped += 1   # a line cut by a crash mid-write
                    continue
                when = rec.get("time") if isinstance(rec, dict) else None
                if not isinstance(when, str):
                    builder.skipped += 1
                    continue
                if (low is not None and when < low) or (high is not None and when >= high):
                    continue
                rid = str(rec.get("id") or f"{path.parent}:{lineno}")
                records.append({"id": rid, "time": when, "latency_ms": rec.get("latency_ms"),
                                "data": rec.get("data")})
                if context != "model_outputs":
                    split = _split_form(rec.get("data"))
                    if split is not None and builder.add_split(rid, *split):
                        continue
                rows = (_prediction_rows(rec.get("data")) if context == "model_outputs"
                        else _request_rows(rec.get("data")))
                if rows is None:
                    builder.skipped += 1
                    continue
                builder.add(rid, rows)
    table = builder.table()
    table.records = records
    return table


_REQUEST_KEYS = ("input_data", "data", "dataframe_records", "dataframe_split", "instances",
                 "inputs")


def _split_form(data: Any) -> tuple[list[Any], list[Any]] | None:
    """A request's ``(columns, rows)`` when :func:`_request_rows` would read it as the split
    form (``{"columns": [...], "data": [[...]]}``, under the same keys); else None."""
    while isinstance(data, dict):
        if "columns" in data and "data" in data and isinstance(data["data"], list):
            columns = data["columns"]
            return (columns, data["data"]) if isinstance(columns, list) else None
        for key in _REQUEST_KEYS:
            if key in data:
                data = data[key]
                break
        else:
            return None
    return None


def _request_rows(data: Any) -> list[Any] | None:
    if isinstance(data, dict):
        if "columns" in data and "data" in data and isinstance(data["data"], list):
            columns = data["columns"]
            if not isinstance(columns, list):
                return None
            return [dict(zip(columns, r)) if isinstance(r, list) else r for r in data["data"]]
        for key in _REQUEST_KEYS:
            if key in data:
                return _request_rows(data[key])
        if all(not isinstance(v, dict | list) for v in data.values()):
            return [data]
        return None
    if isinstance(data, list):
        if all(isinstance(r, dict) for r in data):
            return data
        if all(isinstance(r, list) for r in data):
            return [{str(i): v for i, v in enumerate(r)} for r in data]
        return None
    return None


def _prediction_rows(data: Any) -> list[Any] | None:
    if isinstance(data, dict):
        for key in ("predictions", "outputs", "output", "prediction"):
            if key in data:
                return _prediction_rows(data[key])
        if all(not isinstance(v, dict | list) for v in data.values()):
            return [data]
        return None
    if isinstance(data, list):
        if all(isinstance(r, dict) for r in data):
            return data
        return [{PREDICTION: r[0] if isinstance(r, list) and len(r) == 1 else r}
                for r in data]
    if data is None or isinstance(data, str | int | float | bool):
        return [{PREDICTION: data}]
    return None


class _Builder:
    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {CORRELATION_ID: []}
        self.n = 0
        self.skipped = 0
        self.own_ids = False   # some row carried its own correlation_id
        # add_split's last accepted columns, the number of columns then, and their lists.
        self._split: tuple[list[Any], int, list[Any]] | None = None

    def add_split(self, rid: str, columns: list[Any], rows: list[Any]) -> bool:
        """Rows given as lists of values in ``columns`` order, as :meth:`add` would take them
        as ``dict(zip(columns, row))``, without making the dicts. Adds nothing and returns False
        where that shortcut does not hold (then use :meth:`add`): a row that is not a list of
        one value per column, columns that are not distinct text or include the correlation
        id, or that differ from the columns rows already had (some would be null)."""
        width = len(columns)
        if not rows or any(type(r) is not list or len(r) != width for r in rows):
            return False
        split = self._split
        if split is None or split[1] != len(self.cols) or split[0] != columns:
            split = self._accept(columns)
            if split is None:
                return False
        lists = split[2]
        ids = self.cols[CORRELATION_ID]
        many = len(rows) > 1
        for i, row in enumerate(rows):
            ids.append(f"{rid}_{i}" if many else rid)
            deque(map(list.append, lists, row), maxlen=0)   # each value onto its column
        self.n += len(rows)
        return True

    def add_columns(self, ids: list[str], columns: list[Any], values: list[list[Any]]) -> bool:
        """Rows given column by column (``values[j]`` holds column ``columns[j]`` of every row,
        ``ids`` their ids), under the same conditions as :meth:`add_split`."""
        if not ids:
            return False
        split = self._split
        if split is None or split[1] != len(self.cols) or split[0] != columns:
            split = self._accept(columns)
            if split is None:
                return False
        self.cols[CORRELATION_ID].extend(ids)
        for target, column in zip(split[2], values):
            target.extend(column)
        self.n += len(ids)
        return True

    def _accept(self, columns: list[Any]) -> tuple[list[Any], int, list[Any]] | None:
        if (not all(type(c) is str for c in columns) or len(set(columns)) != len(columns)
                or CORRELATION_ID in columns):
            return None
        known = self.cols.keys() - {CORRELATION_ID}
        if self.n == 0 and not known:
            for c in columns:
                self.cols[c] = []
        elif known != set(columns):
            return None
        self._split = (list(columns), len(self.cols), [self.cols[c] for c in columns])
        return self._split

    def add(self, rid: str, rows: list[Any]) -> None:
        many = len(rows) > 1
        ids = self.cols[CORRELATION_ID]
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                self.skipped += 1
                continue
            own = row.get(CORRELATION_ID)
            if own is not None:
                self.own_ids = True
            ids.append(str(own) if own is not None else f"{rid}_{i}" if many else rid)
            for key, value in row.items():
                if key == CORRELATION_ID:
                    continue
                col = self.cols.get(key)
                if col is None:
                    col = self.cols[key] = [None] * self.n
                col.append(value)
            self.n += 1
            for col in self.cols.values():   # a key this row lacks is null
                if len(col) < self.n:
                    col.append(None)

    def table(self) -> Table:
        return Table({k: _array(v) for k, v in self.cols.items()}, self.n, self.skipped)


def _array(values: list[Any]) -> np.ndarray:
    """Numbers (with None as NaN) as float64 when every present value is a number; else
    objects, as they came (a quality check counts the values of a wrong type)."""
    kinds = set(map(type, values))
    if kinds and kinds - {type(None)} and kinds <= {float, int, type(None)}:
        return np.asarray(values, dtype=np.float64)   # None becomes NaN
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def join(left: Table, right: Table, on: str = CORRELATION_ID) -> Table:
    """Rows of ``left`` with the columns of ``right`` whose ``on`` matches (inner join)."""
    if on not in left or on not in right:
        side = "production" if on not in left else "reference"
        raise InvalidInputError(f"the {side} data has no {on!r} column to join on")
    index = {str(k): i for i, k in enumerate(right.columns[on])}
    pairs = [(i, index[str(k)]) for i, k in enumerate(left.columns[on]) if str(k) in index]
    li = np.array([p[0] for p in pairs], dtype=np.int64)
    ri = np.array([p[1] for p in pairs], dtype=np.int64)
    cols = {k: v[li] for k, v in left.columns.items()}
    for k, v in right.columns.items():
        if k != on:
            cols[k if k not in cols else f"{k}_right"] = v[ri]
    return Table(cols, len(pairs))


# --- tables --------------------------------------------------------------------------------------


def read_table(path: Path) -> Table:
    """A tabular file, a folder of them (read in name order), or an MLTable folder."""
    files = table_files(path)
    builder = _Builder()
    for f in files:
        if f.suffix.lower() not in (".parquet", ".jsonl", ".json"):   # CSV, TSV, other text
            _add_delimited(f, builder)
            continue
        for n, row in enumerate(_rows_of(f)):
            builder.add(f"{f.name}:{n}", [row])
    table = builder.table()
    if table.rows == 0:
        raise InvalidInputError(f"{path}: no rows")
    if not builder.own_ids:   # ids made from file positions are not a data column
        del table.columns[CORRELATION_ID]
    return table


def table_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidInputError(f"{path}: no such file or folder")
    spec = path / "MLTable"
    if spec.is_file():
        return _mltable_files(path, spec)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower()
                   in TABLE_SUFFIXES)
    if not files:
        raise InvalidInputError(f"{path}: no CSV, TSV, JSON lines or Parquet files")
    return files


def _mltable_files(root: Path, spec: Path) -> list[Path]:
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load(spec.read_text(encoding="utf-8"))
    except Exception as exc:   # noqa: BLE001 - any YAML error is the same bad input
        raise InvalidInputError(f"{spec}: not a readable MLTable file: {exc}") from None
    out: list[Path] = []
    for item in (data or {}).get("paths") or []:
        rel = (item or {}).get("file") or (item or {}).get("folder")
        if not isinstance(rel, str) or "://" in rel:
            raise InvalidInputError(f"{spec}: Ember reads MLTable paths that are local files "
                                    "or folders beside the MLTable file")
        target = (root / rel).resolve()
        if not target.is_relative_to(root.resolve()):
            raise InvalidInputError(f"{spec}: path {rel!r} leaves the MLTable's folder")
        out.extend(table_files(target) if target.is_dir() else [target])
    if not out:
        raise InvalidInputError(f"{spec}: names no files under paths")
    return out


def _rows_of(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InvalidInputError(f"{path}: reading Parquet needs pyarrow "
                                    "(pip install pyarrow)") from None
        yield from pq.read_table(path).to_pylist()
        return
    if suffix in (".jsonl", ".json"):   # else :func:`_add_delimited` reads it
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        row = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        raise InvalidInputError(f"{path}:{lineno}: not a JSON line") from None
                    if not isinstance(row, dict):
                        raise InvalidInputError(f"{path}:{lineno}: a JSON line must be an "
                                                "object of column values")
                    yield row
        return


_DELIMITED_CHUNK = 65_536   # rows converted column by column at a time


def _add_delimited(path: Path, builder: _Builder) -> None:
    """A CSV or TSV file's rows, as ``csv.DictReader`` reads them (the first row names the
    columns; a short row's missing cells are null, a long row's extra cells dropped, empty rows
    skipped), each cell through :func:`_cell`. Rows come in chunks; a chunk whose rows all have
    one cell per column is converted column by column (:func:`_cells`), else row by row."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return
            n = 0
            while True:
                chunk = [row for row in itertools.islice(reader, _DELIMITED_CHUNK) if row]
                if not chunk:
                    break
                ids = [f"{path.name}:{i}" for i in range(n, n + len(chunk))]
                n += len(chunk)
                if set(map(len, chunk)) == {len(header)} and builder.add_columns(
                        ids, header, [_cells(c) for c in zip(*chunk)]):
                    continue
                for rid, row in zip(ids, chunk):
                    cells: dict[str, str | None] = dict(zip(header, row))
                    for key in header[len(row):]:
                        cells[key] = None
                    builder.add(rid, [{k: _cell(v) for k, v in cells.items()}])
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


_MISSING = object()


def _cells(texts: Iterable[str]) -> list[Any]:
    """``[_cell(t) for t in texts]``: at C speed for a column of numbers, and for text with
    each distinct value converted once."""
    texts = list(texts)
    try:
        return list(map(float, texts))
    except ValueError:
        pass
    seen: dict[str, Any] = {}
    out = []
    for text in texts:
        value = seen.get(text, _MISSING)
        if value is _MISSING:
            value = _cell(text)
            if len(seen) < 10_000:
                seen[text] = value
        out.append(value)
    return out


def _cell(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text
