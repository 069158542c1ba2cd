"""Output for every command: ``-o json|yaml|table``."""

from __future__ import annotations

import io
import json
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

OutputOpt = typer.Option("table", "--output", "-o", help="json, yaml or table.")

# Not a terminal (a pipe, a test): don't squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)


def emit(data: Any, fmt: str, columns: list[str] | None = None) -> None:
    fmt = fmt.lower()
    if fmt == "json":
        typer.echo(json.dumps(data, indent=2, default=str))
    elif fmt == "yaml":
        from ruamel.yaml import YAML

        y = YAML()
        y.default_flow_style = False
        buf = io.StringIO()
        y.dump(json.loads(json.dumps(data, default=str)), buf)
        typer.echo(buf.getvalue().rstrip())
    elif fmt == "table":
        _table(data, columns)
    else:
        raise typer.BadParameter(f"output format {fmt!r} is not json, yaml or table")


def _cell(value: Any, column: str = "") -> str:
    if column.endswith("_time") and isinstance(value, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
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
    rows = list(data or [])
    if not rows:
        console.print("(none)")
        return
    cols = columns or list(rows[0].keys())
    table = Table(*cols)
    for r in rows:
        table.add_row(*(_cell(r.get(c), c) for c in cols))
    console.print(table)
