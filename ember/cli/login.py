"""``ember login``, ``ember logout``, ``ember whoami``: which account this machine's CLI and
SDK use on a server. A login stores a token per endpoint in ``$EMBER_HOME/logins.json`` (mode
0600, :mod:`ember.credentials`); the token is never printed."""

from __future__ import annotations

import sys

import typer

from ember.cli import common
from ember.cli.output import OutputOpt, emit
from ember.errors import InvalidInputError

EndpointOpt = typer.Option(None, "--endpoint",
                           help="The server's URL (default: the global --endpoint or "
                           "EMBER_ENDPOINT).")


def secret_from_stdin(what: str) -> str:
    """One secret from standard input (a pipe, a file); only the line ending is taken off,
    so a secret may begin or end with spaces."""
    text = sys.stdin.read()
    secret = text[:-1] if text.endswith("\n") else text
    secret = secret[:-1] if secret.endswith("\r") else secret
    if not secret:
        raise InvalidInputError(f"no {what} on standard input")
    if "\n" in secret:
        raise InvalidInputError(f"the {what} on standard input is more than one line")
    return secret


def _endpoint(given: str | None) -> str:
    endpoint = given or common.endpoint()
    if not endpoint:
        raise InvalidInputError("which server? give --endpoint URL (or set EMBER_ENDPOINT)")
    return endpoint.rstrip("/")


def login(endpoint: str = EndpointOpt,
          token_stdin: bool = typer.Option(False, "--token-stdin",
                                           help="Read an API token from standard input."),
          username: str = typer.Option(None, "--username", "-u",
                                       help="Log in with this user's password: a token "
                                       "named 'ember login' is made for it."),
          password_stdin: bool = typer.Option(False, "--password-stdin",
                                              help="Read the password from standard input."),
          ) -> None:
    """Store a token for a server, which the CLI and SDK then send to it."""
    from ember.client.auth import token_from_password
    from ember.client.mlclient import MLClient
    from ember.credentials import save_login

    url = _endpoint(endpoint)
    if token_stdin and username:
        raise InvalidInputError("give --token-stdin or --username, not both")
    if token_stdin:
        token = secret_from_stdin("token")
    elif username:
        if password_stdin:
            password = secret_from_stdin("password")
        elif sys.stdin.isatty():
            password = typer.prompt(f"Password for {username}", hide_input=True)
        else:
            raise InvalidInputError("--username needs --password-stdin (the password on "
                                    "standard input)")
        token = str(token_from_password(url, username, password)["token"])
    else:
        raise InvalidInputError("give --token-stdin (a token on standard input) or "
                                "--username NAME --password-stdin")
    with MLClient(endpoint=url, token=token) as c:
        me = c.whoami()    # the token works before it is stored
    path = save_login(url, token)
    typer.echo(f"Logged in to {url} as {me['user']}; the token is stored in {path}")


def logout(endpoint: str = EndpointOpt) -> None:
    """Forget the token stored for a server (it stays valid until revoked or expired)."""
    from ember.credentials import save_login

    url = _endpoint(endpoint)
    path = save_login(url, None)
    typer.echo(f"Logged out of {url}; removed its token from {path}")


def whoami(output: str = OutputOpt) -> None:
    """The account the server takes this CLI for, and its roles."""
    with common.client() as c:
        emit(c.whoami(), output)
