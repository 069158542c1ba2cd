"""LLM flows against a real Ember language-model deployment: the catalog's SmolLM2-135M-Instruct
served by llama.cpp behind the router as a serverless endpoint, reached by the flows' llm nodes
through the real ``openai`` client and an ``open_ai`` connection whose ``base_url`` is the
endpoint. A chat flow with history, a three-variant flow with an evaluation flow over each
variant's run, streaming, and the traces each test and line leaves in MLflow."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.connections import Connection
from ember.entities.serverless_endpoints import ServerlessEndpoint
from tests.conftest import ServerProc, wait_for

FLOWS = Path(__file__).parent / "llm_flows"
SMOL = "azureml://registries/azureml/models/SmolLM2-135M-Instruct"
WS = "flows-llm"


@pytest.fixture(scope="module")
def llm(module_server: ServerProc) -> Iterator[dict[str, str]]:
    """A workspace with the serverless endpoint ``smol`` and the connection ``smol`` to it."""
    httpx.post(f"{module_server.url}/api/v1/workspaces", json={"name": WS},
               headers=module_server.headers).raise_for_status()
    with MLClient(endpoint=module_server.url, workspace=WS, token=module_server.token) as c:
        c.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="smol", model_id=SMOL)).result()
        ep = c.serverless_endpoints.get("smol")
        key = c.serverless_endpoints.get_keys("smol").primary_key
        c.connections.create_or_update(Connection(
            name="smol", type="open_ai", configs={"base_url": ep.openai_base_url},
            secrets={"api_key": key}))
        with pytest.MonkeyPatch.context() as mp:
            # the mlflow client in this process reads the traces with the owner token
            mp.setenv("MLFLOW_TRACKING_TOKEN", module_server.token)
            yield {"url": module_server.url, "base_url": str(ep.openai_base_url), "key": key,
                   "token": module_server.token}
        c.serverless_endpoints.begin_delete("smol").result()


def env(llm: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "EMBER_ENDPOINT": llm["url"], "EMBER_WORKSPACE": WS,
            "EMBER_TOKEN": llm["token"]}


def pf(llm: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ember.cli.main", "pf", *args],
                          capture_output=True, text=True, timeout=300, env=env(llm))


def traces(llm: dict[str, str], experiment: str) -> list[Any]:
    import mlflow

    mlflow.set_tracking_uri(f"{llm['url']}/workspaces/{WS}")
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return list(mlflow.search_traces(locations=[exp.experiment_id], return_type="list"))


def test_chat_flow_with_history_and_its_trace(llm: dict[str, str]) -> None:
    history = [{"inputs": {"question": "My name is Ada."},
                "outputs": {"answer": "Nice to meet you, Ada."}}]
    r = pf(llm, "flow", "test", "--flow", str(FLOWS / "chat"), "--inputs",
           "question=What is my name?", f"chat_history={json.dumps(history)}")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)["answer"]
    assert isinstance(answer, str) and answer.strip()

    # The test's spans reach the server as an MLflow trace: flow -> node -> chat call, with
    # the rendered history in the messages and the deployment's token usage.
    found = wait_for(lambda: traces(llm, "prompt-flow-tests"), timeout=60)
    spans = {s.name: s for s in found[0].data.spans}
    assert {"chat", "openai_chat"} <= set(spans)
    call = spans["openai_chat"]
    messages = call.inputs["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "My name is Ada." and messages[3]["content"] == \
        "What is my name?"
    usage = call.get_attribute("mlflow.chat.tokenUsage")
    assert usage["output_tokens"] >= 1 and usage["input_tokens"] > 10
    assert call.outputs == answer


def test_three_variants_each_evaluated_then_compared(llm: dict[str, str],
                                                     tmp_path: Path) -> None:
    data = tmp_path / "topics.jsonl"
    data.write_text("".join(json.dumps({"topic": t}) + "\n"
                            for t in ("the sea", "apples", "winter")))
    words: dict[str, float] = {}
    for variant in ("variant_0", "variant_1", "variant_2"):
        name = f"write-{variant}"
        r = pf(llm, "run", "create", "--flow", str(FLOWS / "variants"), "--data", str(data),
               "--column-mapping", "topic=${data.topic}", "--variant",
               "${write." + variant + "}", "--name", name, "--stream")
        assert r.returncode == 0, r.stderr + r.stdout
        r = pf(llm, "run", "create", "--flow", str(FLOWS / "evaluate"), "--run", name,
               "--column-mapping", "text=${run.outputs.text}", "--name", f"eval-{variant}",
               "--stream")
        assert r.returncode == 0, r.stderr + r.stdout
        metrics = json.loads(pf(llm, "run", "show-metrics", "-n", f"eval-{variant}").stdout)
        words[variant] = metrics["mean_words"]
        with MLClient(endpoint=llm["url"], workspace=WS, token=llm["token"]) as c:
            details = c.flow_runs.details(name)
        assert [d["status"] for d in details] == ["Completed"] * 3
        assert all(d["outputs"]["text"].strip() for d in details)
    # one token (variant_0) is at most one word; twelve tokens of completion say more
    assert words["variant_0"] <= 1 < words["variant_2"]
    page = tmp_path / "compare.html"
    r = pf(llm, "run", "visualize", "-n", "write-variant_0,write-variant_1,write-variant_2",
           "--html-path", str(page))
    assert r.returncode == 0, r.stderr
    html = page.read_text()
    assert "eval-variant_2.mean_words" in html and "variant_1" in html


def test_batch_lines_record_tokens_and_traces_linked_to_the_run(llm: dict[str, str],
                                                                tmp_path: Path) -> None:
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "Hi"}\n{"question": "Name a fruit."}\n')
    r = pf(llm, "run", "create", "--flow", str(FLOWS / "chat"), "--data", str(data),
           "--column-mapping", "question=${data.question}", "--name", "chat-batch",
           "--stream")
    assert r.returncode == 0, r.stderr + r.stdout
    import mlflow

    mlflow.set_tracking_uri(f"{llm['url']}/workspaces/{WS}")
    run = mlflow.get_run("chat-batch")
    assert run.data.metrics["completed_lines"] == 2
    assert run.data.metrics["__pf__.completion_tokens"] >= 2
    found = mlflow.search_traces(locations=[run.info.experiment_id], run_id="chat-batch",
                                 return_type="list")
    assert len(found) == 2


def test_streaming_llm_output_pieces_make_the_whole_answer(llm: dict[str, str]) -> None:
    from ember.flows.connections import StaticConnections
    from ember.flows.executor import FlowExecutor
    from ember.flows.loader import load_flow

    flow = load_flow(FLOWS / "chat")
    conns = StaticConnections({"smol": {"type": "open_ai", "api_key": llm["key"],
                                        "base_url": llm["base_url"]}})
    inputs = {"question": "Name a colour.", "chat_history": []}

    async def both() -> tuple[Any, Any]:
        whole = await FlowExecutor(flow, conns).run_line(inputs)
        streamed = await FlowExecutor(flow, conns, stream=True).run_line(inputs)
        return whole, streamed

    whole, streamed = asyncio.run(both())
    answer = streamed.outputs["answer"]
    assert not isinstance(answer, str)          # a generator: the consumer reads it piece by piece
    pieces = list(answer)
    assert len(pieces) > 1 and "".join(pieces) == whole.outputs["answer"]
