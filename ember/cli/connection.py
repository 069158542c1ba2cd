"""``ember connection``: the credentials and addresses prompt flows use (``pf connection``,
``az ml connection``). Output is promptflow's shape with secrets masked (``******``).

``app`` is mounted as ``ember connection`` and, unchanged, as ``ember pf connection``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ember.cli.common import NoWaitOpt, client
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Connections for prompt flows: open_ai, azure_open_ai, custom, serp, "
                       "serverless... (secrets encrypted on the server, shown as ******).",
                  no_args_is_help=True)

_COLUMNS = ["name", "type", "created_date", "last_modified_date"]
FileOpt = typer.Option(..., "--file", "-f", help="The connection's YAML (promptflow's shape).")
SetOpt = typer.Option([], "--set", help="key=value over the file (configs.<k>, secrets.<k> "
                                        "for custom); repeatable.")
NameOpt = typer.Option(None, "--name", "-n", help="The connection's name (over the file's).")


def _shown(conn: Any) -> dict[str, Any]:
    return dict(conn.flat(shown=True))


@app.command("create")
def create(file: Path = FileOpt, set_: list[str] = SetOpt, name: str = NameOpt,
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Create a connection from YAML (or replace one of the same name and type); values
    written ${env:VAR} are read from this shell's environment."""
    from ember.specs.connections import load_connection_spec

    conn = load_connection_spec(file, list(set_))
    if name:
        conn.name = name
    with client() as c:
        emit(_shown(c.connections.create_or_update(conn)), output)


@app.command("update")
def update(file: Path = typer.Option(None, "--file", "-f"), set_: list[str] = SetOpt,
           name: str = NameOpt, no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Update a connection from YAML (--file), or change fields of the stored one with --set
    (e.g. -n my_conn --set base_url=http://...). Secrets left out keep their values."""
    from ember.errors import InvalidInputError
    from ember.specs.connections import load_connection_spec, overridden_connection

    with client() as c:
        if file:
            conn = load_connection_spec(file, list(set_))
            if name:
                conn.name = name
            c.connections.get(conn.name)   # update, unlike create, needs it to exist
        elif name:
            conn = overridden_connection(c.connections.get(name), list(set_))
        else:
            raise InvalidInputError("give --name or --file")
        emit(_shown(c.connections.create_or_update(conn)), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    """The connection, secrets masked."""
    with client() as c:
        emit(_shown(c.connections.get(name)), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    """The workspace's connections, secrets masked."""
    with client() as c:
        emit([_shown(conn) for conn in c.connections.list()], output, _COLUMNS)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y"), no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Delete the connection (flows that name it fail until it exists again)."""
    if not yes:
        typer.confirm(f"Delete connection {name!r}?", abort=True)
    with client() as c:
        c.connections.delete(name)
    emit({"name": name, "deleted": True}, output)
