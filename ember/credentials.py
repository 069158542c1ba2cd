"""Which token a client sends to a server (the SDK, the CLI, a job's flow run, the runner).

In order: ``EMBER_TOKEN``; the token ``ember login`` stored for that endpoint
(``$EMBER_HOME/logins.json``, mode 0600); and, for the embedded server of this
``EMBER_HOME`` (the URL in its ``server.json``), the owner token the server wrote beside it
(``owner.token``, mode 0600), so the local CLI and SDK need no set-up while another local user,
who cannot read the file, cannot use the port. The MLflow client reads its own variables
(``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from ember.private_files import write_private
from ember.settings import default_home

TOKEN_ENV = "EMBER_TOKEN"
LOGINS_FILE = "logins.json"
OWNER_TOKEN_FILE = "owner.token"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


def endpoint_key(url: str) -> str:
    """``scheme://host:port`` with loopback names made one, for matching endpoints."""
    parts = urlsplit(url.strip().rstrip("/"))
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK or host.startswith("127."):
        host = "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme or 'http'}://{host}:{port}"


def token_for(endpoint: str, home: Path | None = None) -> str | None:
    """The token to send to ``endpoint``, or None when there is none to send."""
    given = os.environ.get(TOKEN_ENV, "").strip()
    if given:
        return given
    home = Path(home) if home is not None else default_home()
    key = endpoint_key(endpoint)
    stored = read_logins(home).get(key)
    if stored:
        return stored
    try:
        info = json.loads((home / "server.json").read_text())
        if endpoint_key(str(info["url"])) == key:
            return (home / OWNER_TOKEN_FILE).read_text().strip() or None
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def auth_headers(endpoint: str, home: Path | None = None) -> dict[str, str]:
    token = token_for(endpoint, home)
    return {"Authorization": f"Bearer {token}"} if token else {}


def read_logins(home: Path) -> dict[str, str]:
    try:
        data = json.loads((home / LOGINS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_login(endpoint: str, token: str | None, home: Path | None = None) -> Path:
    """Store (or, with None, forget) the token for ``endpoint``; the file is mode 0600."""
    home = Path(home) if home is not None else default_home()
    logins = read_logins(home)
    key = endpoint_key(endpoint)
    if token is None:
        logins.pop(key, None)
    else:
        logins[key] = token
    path = home / LOGINS_FILE
    write_private(path, json.dumps(logins, indent=1).encode())
    return path
