"""``ember user|token|role|audit``, ``ember login|logout|whoami`` and ``ember server start``'s
auth options against a real server: the CLI runs as the server's owner (the ``server`` fixture's
EMBER_HOME holds the owner token); a login goes into an EMBER_HOME of its own, where no owner
token is found. Errors are one line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import WorkspaceServer
from tests.test_cli import ember

DATA_SCIENTIST = "AzureML Data Scientist"
PASSWORD = "correct horse battery"


def ember_as(server: WorkspaceServer, home: Path, *args: str, stdin: str = "",
             token: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with its own EMBER_HOME (no owner token there), input on stdin, and
    ``EMBER_TOKEN`` when given; tests.test_cli.ember's ``home`` would also drop the endpoint."""
    env = {k: v for k, v in os.environ.items() if k != "EMBER_TOKEN"}
    env.update(EMBER_ENDPOINT=server.url, EMBER_HOME=str(home))
    if token is not None:
        env["EMBER_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "ember.cli.main", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=180)


def ok_json(r: subprocess.CompletedProcess[str]) -> Any:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def test_user_role_login_whoami_audit(server: WorkspaceServer, tmp_path: Path) -> None:
    name = f"alice-{uuid.uuid4().hex[:8]}"
    made = ok_json(ember_as(server, server.home, "user", "create", name, "--password-stdin",
                            "-o", "json", stdin=PASSWORD + "\n"))
    assert (made["name"], made["is_admin"], made["disabled"], made["has_password"]) == (
        name, False, False, True)
    assert name in [u["name"] for u in ok_json(ember(server.proc, "user", "list", "-o", "json"))]
    error = one_line_error(ember(server.proc, "user", "create", name))
    assert f"user {name!r}" in error and "already exists" in error

    assigned = ok_json(ember(server.proc, "role", "assign", "--user", name, "--workspace",
                             server.workspace, "--role", DATA_SCIENTIST, "-o", "json"))
    assert (assigned["user"], assigned["workspace"], assigned["role"]) == (
        name, server.workspace, DATA_SCIENTIST)
    roles = ok_json(ember(server.proc, "role", "list", "-o", "json"))
    assert {(a["user"], a["role"]) for a in roles} >= {(name, DATA_SCIENTIST)}
    assert [a["role"] for a in ok_json(ember(server.proc, "role", "list", "--user", name,
                                             "-o", "json"))] == [DATA_SCIENTIST]

    # log in with the password into a home of its own: the owner token is not found there
    home = tmp_path / "alice-home"
    r = ember_as(server, home, "login", "--endpoint", server.url, "--username", name,
                 "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    logins = home / "logins.json"
    assert r.stdout.strip().splitlines() == [
        f"Logged in to {server.url} as {name}; the token is stored in {logins}"]
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    (token,) = json.loads(logins.read_text()).values()
    assert token not in r.stdout + r.stderr
    me = ok_json(ember_as(server, home, "whoami", "-o", "json"))
    assert (me["user"], me["is_admin"], me["kind"]) == (name, False, "user")
    assert [(a["workspace"], a["role"]) for a in me["roles"]] == [
        (server.workspace, DATA_SCIENTIST)]
    mine = ok_json(ember_as(server, home, "token", "list", "-o", "json"))
    assert [(t["user"], t["name"]) for t in mine] == [(name, "ember login")]
    # a data scientist is no admin
    error = one_line_error(ember_as(server, home, "user", "list"))
    assert "admin" in error

    # the owner's actions are in the audit log: the role in the workspace's, the user in
    # the server's
    # (an entry's action is its route's template; its resource, the path asked for)
    roles_path = f"/api/v1/workspaces/{server.workspace}/roles"
    entries = ok_json(ember(server.proc, "audit", "list", "--since", "1h", "-o", "json"))
    assert [(e["user"], e["workspace"], e["action"].split()[0], e["resource"], e["outcome"])
            for e in entries] == [("owner", server.workspace, "POST", roles_path, 201)]
    everything = ok_json(ember(server.proc, "audit", "list", "--all-workspaces", "--user", "owner",
                               "-o", "json"))
    made_users = [e for e in everything if e["resource"] == "/api/v1/users"]
    # (AlreadyExistsError answers 400, as Azure's conflicts do)
    assert {("POST", 201), ("POST", 400)} <= {(e["action"].split()[0], e["outcome"])
                                              for e in made_users}
    assert all(e["user"] == "owner" and e["workspace"] == "" for e in made_users)
    assert roles_path in [e["resource"] for e in everything]

    r = ember_as(server, home, "logout", "--endpoint", server.url)
    assert r.returncode == 0 and str(logins) in r.stdout, r.stderr
    assert json.loads(logins.read_text()) == {}
    assert "token" in one_line_error(ember_as(server, home, "whoami"))


def test_token_create_list_revoke(server: WorkspaceServer, tmp_path: Path) -> None:
    made = ok_json(ember(server.proc, "token", "create", "--name", "ci", "--expires-in-days", "2",
                         "-o", "json"))
    plain = made["token"]
    assert plain and made["name"] == "ci" and made["user"] == "owner"
    assert abs(made["expires_at"] - made["creation_time"] - 2 * 86400) < 1

    r = ember(server.proc, "token", "list")
    assert r.returncode == 0 and made["id"] in r.stdout and plain not in r.stdout
    listed = ok_json(ember(server.proc, "token", "list", "-o", "json"))
    assert made["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)
    assert plain not in json.dumps(listed)

    # the table form prints the token alone on stdout, once
    r = ember(server.proc, "token", "create", "--name", "table")
    assert r.returncode == 0, r.stderr
    (shown,) = r.stdout.split()
    assert "shown only this once" in r.stderr and shown not in r.stderr

    # a token given on stdin is checked, then stored
    home = tmp_path / "token-home"
    r = ember_as(server, home, "login", "--endpoint", server.url, "--token-stdin", stdin=plain)
    assert r.returncode == 0 and "as owner" in r.stdout and plain not in r.stdout, r.stderr
    assert ok_json(ember_as(server, home, "whoami", "-o", "json"))["user"] == "owner"

    revoked = ok_json(ember(server.proc, "token", "revoke", made["id"], "-o", "json"))
    assert revoked["id"] == made["id"]
    # (the revoke answer's own revoked_at is still null: the store returns the rows as read
    # before its update; the list shows the revocation)
    (after,) = [t for t in ok_json(ember(server.proc, "token", "list", "-o", "json"))
                if t["id"] == made["id"]]
    assert after["revoked_at"]
    assert "revoked" in one_line_error(ember_as(server, tmp_path, "whoami", token=plain))
    assert "revoked" in one_line_error(ember_as(server, home, "whoami"))
    assert "revoked" in one_line_error(ember_as(
        server, home, "login", "--endpoint", server.url, "--token-stdin", stdin=plain))


def test_audit_since_and_usage_errors(server: WorkspaceServer, tmp_path: Path) -> None:
    assert isinstance(ok_json(ember(server.proc, "audit", "list", "--since", "1h", "-o", "json")),
                      list)
    assert isinstance(ok_json(ember(server.proc, "audit", "list", "--since",
                                    "2024-05-01T12:00:00Z", "--limit", "5", "-o", "json")),
                      list)
    assert "'yesterday'" in one_line_error(ember(server.proc, "audit", "list", "--since",
                                                 "yesterday"))
    home = tmp_path / "nobody"
    assert "--token-stdin" in one_line_error(ember_as(server, home, "login", "--endpoint",
                                                      server.url))
    assert "no password" in one_line_error(ember_as(
        server, home, "login", "--endpoint", server.url, "--username", "x",
        "--password-stdin", stdin=""))


def test_server_start_auth_options_refuse_unsafe_settings(tmp_path: Path) -> None:
    r = ember(None, "server", "start", "--host", "0.0.0.0", "--port", "0", "--no-auth",
              "--home", str(tmp_path / "open"))
    assert one_line_error(r) == ("Error: authentication can be off only on loopback; this "
                                 "server would listen on 0.0.0.0")
    env_free = {k: v for k, v in os.environ.items() if k != "EMBER_ADMIN_PASSWORD"}
    r = subprocess.run([sys.executable, "-m", "ember.cli.main", "server", "start", "--port", "0",
                        "--admin-user", "boss", "--home", str(tmp_path / "admin")],
                       capture_output=True, text=True, env=env_free, timeout=180)
    assert one_line_error(r) == ("Error: --admin-user boss: set its password in "
                                 "EMBER_ADMIN_PASSWORD")
