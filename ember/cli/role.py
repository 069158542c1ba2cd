"""``ember role``: role assignments in the workspace (the global ``-w/--workspace-name`` or
``EMBER_WORKSPACE``), with Azure's built-in role names: ``Owner``, ``Contributor``, ``Reader``,
``AzureML Data Scientist``..."""

from __future__ import annotations

import typer

from ember.cli.common import client
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Role assignments in the workspace (its Owners).", no_args_is_help=True)

_COLUMNS = ["user", "workspace", "role", "creation_time"]
UserOpt = typer.Option(..., "--user", help="The user's name.")
RoleOpt = typer.Option(..., "--role", help="e.g. 'AzureML Data Scientist', Reader, Owner.")


@app.command("assign")
def assign(user: str = UserOpt, role: str = RoleOpt, output: str = OutputOpt) -> None:
    """Give a user a role in the workspace."""
    with client() as c:
        emit(c.roles.assign(user, role), output)


@app.command("list")
def list_(user: str = typer.Option(None, "--user", help="Only this user's."),
          output: str = OutputOpt) -> None:
    with client() as c:
        emit(c.roles.list(user=user), output, _COLUMNS)


@app.command("remove")
def remove(user: str = UserOpt, role: str = RoleOpt, output: str = OutputOpt) -> None:
    """Take a role from a user in the workspace."""
    with client() as c:
        emit(c.roles.remove(user, role), output)
