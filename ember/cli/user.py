"""``ember user``: the server's accounts (a server admin's commands; ``show`` and
``set-password`` also work on one's own account)."""

from __future__ import annotations

import os

import typer

from ember.cli.common import NoWaitOpt, client
from ember.cli.login import secret_from_stdin
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Users of the server (admins).", no_args_is_help=True)

PASSWORD_ENV = "EMBER_NEW_USER_PASSWORD"
_COLUMNS = ["name", "is_admin", "disabled", "has_password", "creation_time"]


@app.command("create")
def create(name: str = typer.Argument(..., help="The user's name."),
           admin: bool = typer.Option(False, "--admin", help="A server admin."),
           password_stdin: bool = typer.Option(
               False, "--password-stdin", help="Read the password from standard input (else "
               f"{PASSWORD_ENV} when set; else none: the user logs in with tokens only)."),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Create a user."""
    password = (secret_from_stdin("password") if password_stdin
                else os.environ.get(PASSWORD_ENV) or None)
    with client() as c:
        emit(c.users.create(name, password=password, is_admin=admin), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    with client() as c:
        emit(c.users.list(), output, _COLUMNS)


@app.command("show")
def show(name: str = typer.Argument(...), output: str = OutputOpt) -> None:
    with client() as c:
        emit(c.users.get(name), output)


@app.command("disable")
def disable(name: str = typer.Argument(...), output: str = OutputOpt) -> None:
    """Disable a user: its tokens and password stop working until it is enabled."""
    with client() as c:
        emit(c.users.disable(name), output)


@app.command("enable")
def enable(name: str = typer.Argument(...), output: str = OutputOpt) -> None:
    with client() as c:
        emit(c.users.enable(name), output)


@app.command("set-password")
def set_password(name: str = typer.Argument(...),
                 password_stdin: bool = typer.Option(
                     ..., "--password-stdin", help="Read the password from standard input."),
                 output: str = OutputOpt) -> None:
    """Set a user's password (one's own, or anyone's as an admin)."""
    password = secret_from_stdin("password")
    with client() as c:
        emit(c.users.set_password(name, password), output)
