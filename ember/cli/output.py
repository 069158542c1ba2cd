"""Output for every command: ``-o json|yaml|tsv|table`` and ``--query <JMESPath>``, as in az.

``--query`` is global, as in az: :func:`ember.cli.main.main` takes it out of the command line
wherever it stands and :func:`set_query` keeps it for :func:`emit`, which applies it to the
JSON form of the result before formatting (so ``--query`` reads the names ``-o json`` shows).
"""

from __future__ import annotations

import io
import json
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

OutputOpt = typer.Option("table", "--output", "-o",
                         help="json, yaml, tsv or table; --query <JMESPath> filters it (as az).")

FORMATS = ("json", "yaml", "tsv", "table")

# Not a terminal (a pipe, a test): don't squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)

_query: dict[str, str | None] = {"text": None}


def set_query(text: str | None) -> None:
    """The ``--query`` of this command line (None: none given)."""
    if text is not None:
        import jmespath
        from jmespath.exceptions import JMESPathError

        from ember.errors import InvalidInputError

        try:
            jmespath.compile(text)
        except JMESPathError as exc:
            raise InvalidInputError(f"--query {text!r} is not a JMESPath expression: "
                                    f"{str(exc).splitlines()[0]}") from None
    _query["text"] = text


def query_given() -> bool:
    return _query["text"] is not None


def emit(data: Any, fmt: str, columns: list[str] | None = None) -> None:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"output format {fmt!r} is not json, yaml, tsv or table")
    if _query["text"] is not None:
        import jmespath

        data = jmespath.search(_query["text"], _jsonable(data))
        columns = None   # the query chose the fields
    if fmt == "json":
        typer.echo(json.dumps(data, indent=2, default=str))
    elif fmt == "yaml":
        from ruamel.yaml import YAML

        y = YAML()
        y.default_flow_style = False
        buf = io.StringIO()
        y.dump(_jsonable(data), buf)
        text = buf.getvalue().rstrip()
        # A lone scalar (from --query) ends with YAML's "..." document end marker.
        typer.echo(text[:-4].rstrip() if text.endswith("\n...") else text)
    elif fmt == "tsv":
        text = tsv(_jsonable(data))
        if text:
            typer.echo(text)
    else:
        _table(data, columns)


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def tsv(data: Any) -> str:
    """az's ``-o tsv``: a scalar as it is; a list one line per item; an object's values
    tab-separated on one line (a nested list or object as compact JSON); null as empty."""
    rows = data if isinstance(data, list) else [data]
    return "\n".join(_tsv_row(row) for row in rows)


def _tsv_row(row: Any) -> str:
    if isinstance(row, dict):
        return "\t".join(_tsv_value(v) for v in row.values())
    if isinstance(row, list):
        return "\t".join(_tsv_value(v) for v in row)
    return _tsv_value(row)


def _tsv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"   # as az prints them
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def timestamp(value: float) -> str:
    """A ``*_time`` value as a local date and time. Jobs keep seconds since the epoch; models
    keep milliseconds, as MLflow does: no date in seconds is past 1e11 (the year 5138)."""
    seconds = value / 1000 if abs(value) >= 1e11 else value
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _cell(value: Any, column: str = "") -> str:
    if column.endswith("_time") and isinstance(value, (int, float)) and not isinstance(
            value, bool):
        return timestamp(value) if value else ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _table(data: Any, columns: list[str] | None) -> None:
    if isinstance(data, dict):
        table = Table(show_header=False, box=None)
        for k, v in data.items():
            table.add_row(f"[bold]{k}[/bold]", _cell(v, str(k)))
        console.print(table)
        return
    if data is None or not isinstance(data, list):   # a scalar (from --query)
        typer.echo(_tsv_value(data))
        return
    rows = list(data)
    if not rows:
        console.print("(none)")
        return
    if not all(isinstance(r, dict) for r in rows):   # e.g. --query "[].name"
        for r in rows:
            typer.echo(_tsv_row(r))
        return
    cols = columns or list(rows[0].keys())
    table = Table(*cols)
    for r in rows:
        table.add_row(*(_cell(r.get(c), c) for c in cols))
    console.print(table)
