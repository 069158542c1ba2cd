"""``ember connection`` against a real server, as a promptflow user types it: create from
promptflow's YAML with --set/--name and ${env:VAR}, show/list masked in promptflow's shape,
update keeping secrets, delete, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import WorkspaceServer
from tests.test_cli import ember

SECRET = "sk-cli-secret-777"


def _json(server: WorkspaceServer, *args: str) -> Any:
    r = ember(server, "connection", *args, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_connection_lifecycle(server: WorkspaceServer, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    openai = tmp_path / "openai.yml"
    openai.write_text(
        "$schema: https://azuremlschemas.azureedge.net/promptflow/latest/"
        "OpenAIConnection.schema.json\n"
        f"name: local_openai\ntype: open_ai\napi_key: {SECRET}\n"
        "base_url: http://127.0.0.1:8799/v1\n")
    shown = _json(server, "create", "-f", str(openai), "--name", "llm",
                  "--set", "organization=org1")
    assert {k: v for k, v in shown.items() if not k.endswith("_date")} == {
        "name": "llm", "type": "open_ai", "api_key": "******", "organization": "org1",
        "base_url": "http://127.0.0.1:8799/v1"}
    assert shown["created_date"] and shown["last_modified_date"]

    monkeypatch.setenv("EMBER_TEST_CONN_TOKEN", SECRET)
    custom = tmp_path / "custom.yml"
    custom.write_text("name: my_custom\ntype: custom\nconfigs:\n  endpoint: http://e\n"
                      "secrets:\n  token: ${env:EMBER_TEST_CONN_TOKEN}\n")
    assert _json(server, "create", "-f", str(custom))["secrets"] == {"token": "******"}
    assert _json(server, "show", "-n", "my_custom")["configs"] == {"endpoint": "http://e"}
    listed = _json(server, "list")
    assert [c["name"] for c in listed] == ["llm", "my_custom"]
    table = ember(server, "connection", "list")
    assert table.returncode == 0 and "my_custom" in table.stdout and SECRET not in table.stdout

    # update --set keeps the secret it does not name
    updated = _json(server, "update", "-n", "llm", "--set", "base_url=http://127.0.0.1:9/v1")
    assert updated["base_url"] == "http://127.0.0.1:9/v1"
    secrets = httpx.post(server.api() + "/connections/llm/listsecrets",
                         headers=server.headers).json()
    assert (secrets["api_key"], secrets["organization"]) == (SECRET, "org1")
    custom_plain = httpx.post(server.api() + "/connections/my_custom/listsecrets",
                              headers=server.headers).json()
    assert custom_plain["secrets"] == {"token": SECRET}

    assert _json(server, "delete", "-n", "llm", "-y") == {"name": "llm", "deleted": True}
    r = ember(server, "connection", "show", "-n", "llm")
    assert r.returncode != 0 and "connection 'llm' does not exist" in r.stderr
    r = ember(server, "connection", "update", "-f", str(openai))
    assert r.returncode != 0 and "connection 'local_openai' does not exist" in r.stderr
    log = (server.home / "server-test.log").read_text()
    assert SECRET not in log


def test_errors_are_one_line_and_say_what_to_do(server: WorkspaceServer,
                                                 tmp_path: Path) -> None:
    aoai = tmp_path / "aoai.yml"
    aoai.write_text("name: a\ntype: azure_open_ai\napi_key: k\napi_base: http://h\n"
                    "api_version: 2024-02-01\n")
    r = ember(server, "connection", "create", "-f", str(aoai))
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        f'Error: {aoai}:5: api_version: is a YAML date (2024-02-01), not a string '
        '(quote it: api_version: "2024-02-01")']
    custom = tmp_path / "c.yml"
    custom.write_text("name: c\ntype: custom\nsecrets:\n  token: ${env:EMBER_TEST_UNSET_VAR}\n")
    r = ember(server, "connection", "create", "-f", str(custom))
    assert r.returncode != 0 and "'EMBER_TEST_UNSET_VAR' is not set" in r.stderr
    nosecret = tmp_path / "n.yml"
    nosecret.write_text("name: n\ntype: open_ai\nbase_url: http://h\n")
    r = ember(server, "connection", "create", "-f", str(nosecret))
    assert r.returncode != 0 and "connection 'n' of type open_ai needs api_key" in r.stderr
