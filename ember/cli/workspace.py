from __future__ import annotations

import typer

from ember.cli.common import client
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Workspaces.", no_args_is_help=True)


@app.command("show")
def show(output: str = OutputOpt) -> None:
    """The current workspace, with its mlflow_tracking_uri."""
    with client() as c:
        emit(c.workspace(), output)
