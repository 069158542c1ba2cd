"""Connections over REST, in process: the routes, masked answers, ``listsecrets``, errors that
never echo a secret; and the SDK (``client.connections``) over the same app."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ember.entities.connections import MASK, Connection
from ember.errors import InvalidInputError, NotFoundError

from tests.server.conftest import WS

SECRET = "sk-rest-secret-42"
C = WS + "/connections"


def test_rest_routes(client: TestClient) -> None:
    r = client.put(C + "/llm", json={"type": "open_ai", "secrets": {"api_key": SECRET},
                                     "configs": {"base_url": "http://h/v1"}, "tags": {"a": "b"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["secrets"] == {"api_key": MASK} and SECRET not in r.text
    assert {k: body[k] for k in ("name", "type", "configs", "tags")} == {
        "name": "llm", "type": "open_ai", "configs": {"base_url": "http://h/v1"},
        "tags": {"a": "b"}}
    assert client.get(C + "/llm").json() == body
    assert [c["name"] for c in client.get(C).json()] == ["llm"]
    assert SECRET not in client.get(C).text
    r = client.post(C + "/llm/listsecrets")
    assert r.json() == {"name": "llm", "type": "open_ai", "api_key": SECRET,
                        "organization": None, "base_url": "http://h/v1"}
    # an update without the secret keeps it
    client.put(C + "/llm", json={"type": "open_ai", "configs": {"base_url": "http://g/v1"}})
    assert client.post(C + "/llm/listsecrets").json()["api_key"] == SECRET
    assert client.delete(C + "/llm").status_code == 204
    for r in (client.get(C + "/llm"), client.post(C + "/llm/listsecrets"),
              client.delete(C + "/llm")):
        assert r.status_code == 404
        assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert client.get("/api/v1/workspaces/nope/connections").status_code == 404


@pytest.mark.parametrize("body, message", [
    ({"type": "open_ai", "secrets": {"api_key": SECRET}, "configs": {"base_uri": "x"}},
     "connection 'c' of type open_ai has no key 'base_uri'"),
    ({"type": "nope", "secrets": {"api_key": SECRET}}, "unknown connection type 'nope'"),
    ({"type": "custom", "secrets": {"t": 12345}}, "secrets.t: Input should be a valid string"),
    ({"type": "custom", "secrets": {"t": SECRET}, "extra": SECRET}, "extra: unknown key"),
    ({"name": "other", "type": "custom", "secrets": {"t": SECRET}},
     "the body names connection 'other' but the path 'c'"),
])
def test_refusals_name_the_key_and_never_echo_a_secret(client: TestClient, body: dict[str, Any],
                                                       message: str) -> None:
    r = client.put(C + "/c", json=body)
    assert r.status_code == 400
    assert message in r.json()["message"]
    assert SECRET not in r.text and "12345" not in r.text


def test_sdk(app_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_TEST_TOKEN", SECRET)
    conns = app_client.connections
    made = conns.create_or_update(Connection(name="mine", configs={"endpoint": "http://e"},
                                             secrets={"token": "${env:EMBER_TEST_TOKEN}"}))
    assert isinstance(made, Connection) and made.secrets == {"token": MASK}
    assert conns.get("mine") == made
    assert conns.get("mine", populate_secrets=True).secrets == {"token": SECRET}
    assert conns.list_secrets("mine") == {"name": "mine", "type": "custom",
                                          "configs": {"endpoint": "http://e"},
                                          "secrets": {"token": SECRET}}
    # MLClient's shortcut takes a connection too
    typed = app_client.create_or_update(Connection.from_flat(
        {"name": "llm", "type": "open_ai", "api_key": SECRET}))
    assert typed.flat() == {"name": "llm", "type": "open_ai", "api_key": MASK,
                            "organization": None, "base_url": None}
    assert [c.name for c in conns.list()] == ["llm", "mine"]
    with pytest.raises(InvalidInputError, match="'EMBER_TEST_MISSING' is not set"):
        conns.create_or_update(Connection(name="x", secrets={"t": "${env:EMBER_TEST_MISSING}"}))
    conns.delete("mine")
    with pytest.raises(NotFoundError, match="connection 'mine' does not exist"):
        conns.get("mine")
