"""Serverless endpoint YAML: Azure's two keys, the optional ones, Ember's rate_limits, and
errors that name file, line and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ember.entities.serverless_endpoints import RateLimits, ServerlessEndpoint
from ember.errors import SpecError
from ember.specs.serverless_endpoints import (load_serverless_endpoint_spec,
                                              overridden_serverless_endpoint)

SMOL = "azureml://registries/azureml/models/SmolLM2-135M-Instruct"


def test_azures_example_and_every_optional_key(write: Callable[..., Path]) -> None:
    ep = load_serverless_endpoint_spec(write("endpoint.yml", f"""
        name: meta-llama3-8b-qwerty
        model_id: {SMOL}
        """))
    assert ep == ServerlessEndpoint(name="meta-llama3-8b-qwerty", model_id=SMOL)
    assert ep.auth_mode == "key" and ep.rate_limits == RateLimits(200_000, 1_000)
    ep = load_serverless_endpoint_spec(write("full.yml", f"""
        $schema: https://azuremlschemas.azureedge.net/latest/serverlessEndpoint.schema.json
        name: chat
        model_id: {SMOL}
        auth_mode: key
        description: a chat model
        tags: {{team: nlp}}
        properties: {{owner: me}}
        location: westus3
        content_safety: {{content_safety_status: disabled}}
        rate_limits: {{requests_per_minute: 60}}
        """), ["rate_limits.tokens_per_minute=5000", "name=renamed"])
    assert ep == ServerlessEndpoint(name="renamed", model_id=SMOL, description="a chat model",
                                    tags={"team": "nlp"}, properties={"owner": "me"},
                                    rate_limits=RateLimits(5000, 60))


def _fails(path: Path, overrides: list[str] | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_serverless_endpoint_spec(path, overrides)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(("yaml_text", "key", "line", "fragment"), [
    ("name: e\n", "model_id", None, "model_id: is required"),
    (f"model_id: {SMOL}\n", "name", None, "name: is required"),
    (f"name: e\nmodel_id: {SMOL}\nmodel_idd: x\n", "model_idd", 3,
     "did you mean 'model_id'?"),
    (f"name: e\nmodel_id: {SMOL}\nauth_mode: aad\n", "auth_mode", 3,
     "Azure-issued Entra tokens"),
    (f"name: e\nmodel_id: {SMOL}\nauth_mode: token\n", "auth_mode", 3, "is not one of"),
    ("name: e\nmodel_id: [a, b]\n", "model_id", 2, "must be a string"),
    ("name: bad/name\nmodel_id: x\n", "name", 1, "is not a valid name"),
    (f"name: e\nmodel_id: {SMOL}\nrate_limits:\n  tokens_per_minute: 0\n",
     "rate_limits.tokens_per_minute", 4, "an integer >= 1"),
    (f"name: e\nmodel_id: {SMOL}\nrate_limits:\n  rpm: 3\n", "rate_limits.rpm", 4,
     "unknown key"),
    (f"name: e\nmodel_id: {SMOL}\ncontent_safety: {{status: on}}\n",
     "content_safety.status", 3, "unknown key"),
])
def test_bad_specs_name_file_line_and_key(write: Callable[..., Path], yaml_text: str,
                                          key: str, line: int | None, fragment: str) -> None:
    err = _fails(write("endpoint.yml", yaml_text))
    assert err.key == key and fragment in str(err)
    if line is not None:
        assert err.line == line


def test_bad_yaml_and_a_bad_override(write: Callable[..., Path]) -> None:
    assert "endpoint.yml" in str(_fails(write("endpoint.yml", "name: [unclosed\n")))
    err = _fails(write("ok.yml", f"name: e\nmodel_id: {SMOL}\n"), ["auth_mode=aad"])
    assert err.key == "auth_mode" and "--set auth_mode=aad" in str(err)


def test_update_set_applies_to_the_endpoint_as_it_is() -> None:
    ep = ServerlessEndpoint(name="chat", model_id=SMOL, tags={"a": "b"},
                            rate_limits=RateLimits(10, 20), provisioning_state="Succeeded")
    new = overridden_serverless_endpoint(ep, ["rate_limits.requests_per_minute=5",
                                              "tags.c=d"])
    assert new.rate_limits == RateLimits(10, 5) and new.tags == {"a": "b", "c": "d"}
    assert new.model_id == SMOL
    with pytest.raises(SpecError, match="did you mean 'description'") as info:
        overridden_serverless_endpoint(ep, ["descripton=x"])
    assert info.value.file == "serverless endpoint chat"
