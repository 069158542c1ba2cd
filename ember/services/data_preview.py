"""The first rows of a tabular file of a data asset: CSV/TSV read as text, Parquet with
pyarrow when it is installed. Only a bounded head of a delimited file is read, and a Parquet
file is read batch by batch from its footer, so a preview costs little however big the file."""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass, field
from typing import IO, Any

from ember.errors import InvalidInputError

MAX_PREVIEW_ROWS = 200
MAX_DELIMITED_BYTES = 1 << 20     # the head of a CSV/TSV file a preview reads
MAX_PARQUET_BYTES = 512 << 20     # a larger Parquet file is not previewed
MAX_CELL_CHARS = 200
DELIMITED = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": ","}
PARQUET = (".parquet", ".pq")


@dataclass
class Table:
    """A file's first rows, every cell as text."""

    path: str
    format: str                       # csv, tsv, parquet; "" when not tabular
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False           # the file has more rows than shown
    note: str = ""                    # why there is no table, when there is none


def file_format(path: str, delimiter: str | None = None) -> str:
    ext = posixpath.splitext(path.lower())[1]
    if ext in PARQUET:
        return "parquet"
    if delimiter is not None:
        return "tsv" if delimiter == "\t" else "csv"
    if ext in (".tsv", ".tab"):
        return "tsv"
    if ext in (".csv", ".txt"):
        return "csv"
    return ""


def is_tabular(path: str) -> bool:
    return file_format(path) in ("csv", "tsv", "parquet") and not path.lower().endswith(".txt")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"


def read_delimited(path: str, head: bytes, complete: bool, rows: int,
                   delimiter: str = ",") -> Table:
    """``head``: the file's first bytes (all of it when ``complete``)."""
    text = head.decode("utf-8", errors="replace")
    if not complete and "\n" in text:
        text = text[:text.rindex("\n") + 1]   # drop the last, cut line
    found = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    found = [r for r in found if r]
    kind = "tsv" if delimiter == "\t" else "csv"
    if not found:
        return Table(path, kind, note="the file is empty")
    body = found[1:]
    return Table(path, kind, columns=[_cell(c) for c in found[0]],
                 rows=[[_cell(c) for c in r] for r in body[:rows]],
                 truncated=len(body) > rows or not complete)


def read_parquet(path: str, fh: IO[bytes], size: int, rows: int) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Table(path, "parquet", note="Parquet files are previewed with pyarrow, which "
                     "this server does not have (pip install pyarrow)")
    if size > MAX_PARQUET_BYTES:
        return Table(path, "parquet", note=f"the file is over {MAX_PARQUET_BYTES >> 20} MiB: "
                     "no preview")
    try:
        parquet = pq.ParquetFile(fh)
        columns = list(parquet.schema_arrow.names)
        batch = next(parquet.iter_batches(batch_size=rows), None)
    except Exception as exc:   # pyarrow's errors share no base class worth naming
        raise InvalidInputError(f"{path} is not a readable Parquet file: {exc}") from None
    data = batch.to_pylist() if batch is not None else []
    return Table(path, "parquet", columns=[_cell(c) for c in columns],
                 rows=[[_cell(r.get(c)) for c in columns] for r in data],
                 truncated=parquet.metadata.num_rows > len(data))


def check_rows(rows: int) -> int:
    if rows < 1 or rows > MAX_PREVIEW_ROWS:
        raise InvalidInputError(f"rows must be between 1 and {MAX_PREVIEW_ROWS}")
    return rows
