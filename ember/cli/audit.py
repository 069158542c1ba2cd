"""``ember audit``: the audit log (every mutating request and every denied one)."""

from __future__ import annotations

import re
import time
from datetime import datetime

import typer

from ember.cli.common import client
from ember.cli.output import OutputOpt, emit, timestamp
from ember.errors import InvalidInputError

app = typer.Typer(help="The audit log.", no_args_is_help=True)

_COLUMNS = ["time", "user", "principal", "workspace", "action", "resource", "outcome",
            "client"]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(value: str, now: float | None = None) -> float:
    """``--since``: an ISO-8601 time (local time when it names no zone) or a duration back
    from now (``90s``, ``15m``, ``2h``, ``1d``, ``1w``), as seconds since the epoch."""
    text = value.strip()
    found = _DURATION.fullmatch(text)
    if found:
        ago = float(found.group(1)) * _SECONDS[found.group(2)]
        return (time.time() if now is None else now) - ago
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidInputError(
            f"--since {value!r} is neither an ISO-8601 time (e.g. 2024-05-01T12:00:00Z) nor a "
            "duration (e.g. 15m, 2h, 1d)") from None


@app.command("list")
def list_(user: str = typer.Option(None, "--user", help="Only this user's requests."),
          since: str = typer.Option(None, "--since",
                                    help="An ISO-8601 time or a duration back (15m, 2h, 1d)."),
          limit: int = typer.Option(1000, "--limit", min=1, max=10_000),
          all_workspaces: bool = typer.Option(
              False, "--all-workspaces", help="Every entry, server-level ones included "
              "(server admins); else the workspace's (its Owners)."),
          output: str = OutputOpt) -> None:
    """Audit entries, newest first."""
    after = parse_since(since) if since is not None else None
    with client() as c:
        found = c.audit.list(user=user, since=after, limit=limit, all_workspaces=all_workspaces)
    if output.lower() == "table":   # -o json keeps seconds since the epoch
        found = [{**e, "time": timestamp(e["time"])} for e in found]
    emit(found, output, _COLUMNS)
