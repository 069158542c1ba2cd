"""``ember token``: API tokens (``Authorization: Bearer``), one's own or, as an admin, anyone's.
The plain token is printed once, when it is made; the server keeps only its hash."""

from __future__ import annotations

from typing import Any

import typer

from ember.cli.common import NoWaitOpt, client
from ember.cli.output import OutputOpt, emit, timestamp

app = typer.Typer(help="API tokens.", no_args_is_help=True)

_COLUMNS = ["id", "user", "name", "kind", "creation_time", "expires_at", "revoked_at"]


def _readable(record: dict[str, Any]) -> dict[str, Any]:
    """A table's row: the expiry and revocation times as dates (``-o json`` keeps seconds)."""
    return {k: (timestamp(v) if k in ("expires_at", "revoked_at") and v else v)
            for k, v in record.items()}


@app.command("create")
def create(name: str = typer.Option("", "--name", "-n", help="What the token is for."),
           expires_in_days: float = typer.Option(
               None, "--expires-in-days", help="Lifetime (default: the server's, 30 days; at "
               "most 366)."),
           user: str = typer.Option(None, "--user", help="Another user's token (admins)."),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Make a token and print it; it is not shown again (``-o json``: the whole record)."""
    with client() as c:
        made = c.tokens.create(name, expires_in_days=expires_in_days, user=user)
    if output.lower() != "table":
        emit(made, output)
        return
    typer.echo(made["token"])
    expires = timestamp(made["expires_at"]) if made.get("expires_at") else "never"
    typer.echo(f"Token {made['id']} for {made['user']}, expires {expires}; it is shown only "
               "this once.", err=True)


@app.command("list")
def list_(user: str = typer.Option(None, "--user", help="Another user's tokens (admins)."),
          all_users: bool = typer.Option(False, "--all-users",
                                         help="Every user's tokens (admins)."),
          output: str = OutputOpt) -> None:
    """Tokens' records (never the tokens themselves)."""
    with client() as c:
        found = c.tokens.list(user=user, all_users=all_users)
    if output.lower() == "table":
        found = [_readable(t) for t in found]
    emit(found, output, _COLUMNS)


@app.command("revoke")
def revoke(token_id: str = typer.Argument(..., help="The token's id (ember token list)."),
           output: str = OutputOpt) -> None:
    """Revoke a token: it stops working at once."""
    with client() as c:
        emit(c.tokens.revoke(token_id), output)
