"""Connection YAML: promptflow's three measured shapes, ``${env:VAR}`` read on the client,
the unquoted-date trap, and errors that name file, line and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ember.entities.connections import MASK, Connection
from ember.errors import InvalidInputError, SpecError
from ember.specs.connections import (load_connection_spec, overridden_connection,
                                     resolve_env_refs)


def test_promptflows_three_shapes(write: Callable[..., Path]) -> None:
    conn = load_connection_spec(write("openai.yml", """
        $schema: https://azuremlschemas.azureedge.net/promptflow/latest/OpenAIConnection.schema.json
        name: local_openai
        type: open_ai
        api_key: sk-test-123
        base_url: http://127.0.0.1:8799/v1
        """))
    assert conn == Connection(name="local_openai", type="open_ai",
                              configs={"base_url": "http://127.0.0.1:8799/v1"},
                              secrets={"api_key": "sk-test-123"})
    conn = load_connection_spec(write("aoai.yml", """
        name: local_aoai
        type: azure_open_ai
        api_key: sk-test-456
        api_base: http://127.0.0.1:8799
        api_type: azure
        api_version: "2024-02-01"
        """))
    assert conn.configs == {"api_base": "http://127.0.0.1:8799", "api_type": "azure",
                            "api_version": "2024-02-01"}
    assert conn.secrets == {"api_key": "sk-test-456"}
    conn = load_connection_spec(write("custom.yml", """
        name: my_custom
        type: custom
        configs:
          endpoint: http://127.0.0.1:8799/v1
          model: fake-model
          retries: 3
        secrets:
          token: s3cret
        tags: {team: a}
        """))
    assert conn == Connection(name="my_custom", configs={
        "endpoint": "http://127.0.0.1:8799/v1", "model": "fake-model", "retries": "3"},
        secrets={"token": "s3cret"}, tags={"team": "a"})


def test_an_unquoted_date_is_refused_with_a_hint_to_quote_it(write: Callable[..., Path]
                                                             ) -> None:
    path = write("aoai.yml", """
        name: a
        type: azure_open_ai
        api_key: k
        api_base: http://h
        api_version: 2024-02-01
        """)
    with pytest.raises(SpecError) as caught:
        load_connection_spec(path)
    assert str(caught.value) == (f'{path}:5: api_version: is a YAML date (2024-02-01), not a '
                                 'string (quote it: api_version: "2024-02-01")')
    # --set takes the text as typed
    assert load_connection_spec(path, ["api_version=2024-06-01"]).configs["api_version"] \
        == "2024-06-01"


def test_env_values_are_read_here_and_a_missing_variable_is_named(
        write: Callable[..., Path]) -> None:
    path = write("c.yml", """
        name: c
        type: custom
        configs: {endpoint: "${env:EP}"}
        secrets:
          token: ${env:MY_TOKEN}
        """)
    conn = load_connection_spec(path, environ={"EP": "http://e", "MY_TOKEN": "tok"})
    assert (conn.configs, conn.secrets) == ({"endpoint": "http://e"}, {"token": "tok"})
    with pytest.raises(SpecError) as caught:
        load_connection_spec(path, environ={"EP": "http://e"})
    assert str(caught.value).startswith(
        f"{path}:5: secrets.token: environment variable 'MY_TOKEN' is not set")
    sdk = Connection(name="o", type="open_ai", secrets={"api_key": "${env:KEY}"})
    assert resolve_env_refs(sdk, {"KEY": "sk"}).secrets == {"api_key": "sk"}
    with pytest.raises(InvalidInputError, match="api_key is \\$\\{env:KEY\\} but environment "
                                                "variable 'KEY' is not set"):
        resolve_env_refs(sdk, {})


@pytest.mark.parametrize("text, message", [
    ("name: a\ntype: open_ai\napi_key: k\nbase_uri: h\n",
     ":4: unknown key 'base_uri' (did you mean 'base_url'?)"),
    ("name: a\ntype: openai\napi_key: k\n", ":2: type: 'openai' is not one of"),
    ("name: a\ntype: custom\nconfigs: {x: [1]}\nsecrets: {t: v}\n",
     ":3: configs.x: must be a string, not a list"),
    ("type: serp\napi_key: k\n", "name: is required"),
    ("name: a\ntype: custom\nsecrets: {t: v}\napi_key: k\n", ":4: unknown key 'api_key'"),
])
def test_errors_name_the_line_and_key(write: Callable[..., Path], text: str,
                                      message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("?", r"\?")):
        load_connection_spec(write("c.yml", text))


def test_update_with_set_on_the_stored_connection() -> None:
    shown = Connection(name="llm", type="open_ai", configs={"base_url": "http://a"},
                       secrets={"api_key": MASK}, tags={"t": "1"}, creation_time=5.0)
    new = overridden_connection(shown, ["base_url=http://b", "organization=org"])
    assert new == Connection(name="llm", type="open_ai",
                             configs={"base_url": "http://b", "organization": "org"},
                             secrets={"api_key": MASK}, tags={"t": "1"})
    with pytest.raises(SpecError, match="connection llm: unknown key 'base'"):
        overridden_connection(shown, ["base=x"])
