"""Batch and evaluation runs end to end: ``ember pf ...`` and ``PFClient`` against a real server;
each run is a real job whose process runs the flow (``python -m ember.flows.batch``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.pf import PFClient
from tests.conftest import owner_token, WorkspaceServer, job_log, wait_ended, wait_for

RUNS = Path(__file__).parent / "runs"
PYFLOW = RUNS / "pyflow"
EVALFLOW = RUNS / "evalflow"


def pf(*args: str, env: dict[str, str] | None = None,
       cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ember.cli.main", "pf", *args],
                          capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={**os.environ, **(env or {})})


def data_file(tmp_path: Path, n: int, bad: tuple[int, ...] = ()) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"text": f"{'bad' if i in bad else 'line'}{i}",
                                        "expected": f"HELLO LINE{i}"}) + "\n"
                            for i in range(n)))
    return path


def test_flow_test_runs_here_without_a_server(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    r = pf("flow", "test", "--flow", str(PYFLOW), "--inputs", "text=abc",
           env={"EMBER_HOME": str(home), "EMBER_ENDPOINT": ""})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"output": "HELLO ABC", "length": 9}
    # The answer came first; a detached child then started the local server and recorded the
    # test's trace there.
    from ember.client import local

    try:
        url = wait_for(lambda: local.status(home).get("url"), timeout=90)
        import mlflow

        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", owner_token(home))
        mlflow.set_tracking_uri(url)

        def found() -> list[object]:
            exp = mlflow.get_experiment_by_name("prompt-flow-tests")
            return [] if exp is None else list(
                mlflow.search_traces(locations=[exp.experiment_id], return_type="list"))

        traces = wait_for(lambda: len(t := found()) == 2 and t, timeout=60)
        # the line (flow -> nodes) and the aggregation over it, each a trace
        spans = {s.name for trace in traces for s in trace.data.spans}
        assert spans == {"pyflow", "greet", "upper", "pyflow.aggregation", "agg"}
    finally:
        local.stop(home)


def test_flow_test_of_one_node_and_a_failing_node(tmp_path: Path) -> None:
    env = {"EMBER_HOME": str(tmp_path / "home")}
    r = pf("flow", "test", "--flow", str(PYFLOW), "--node", "upper", "--inputs",
           "greeting=hi there", "--no-trace", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"output": "HI THERE"}
    r = pf("flow", "test", "--flow", str(PYFLOW), "--inputs", "text=bad", "--no-trace",
           env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ") and "upper" in r.stderr and "bad line" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_batch_run_is_a_job_with_line_results_and_metrics(server: WorkspaceServer,
                                                          tmp_path: Path) -> None:
    data = data_file(tmp_path, 10, bad=(3, 7))
    r = pf("run", "create", "--flow", str(PYFLOW), "--data", str(data), "--column-mapping",
           "text=${data.text}", "--name", "py-run-1", "--stream")
    assert r.returncode == 0, r.stderr
    assert '"status": "Completed"' in r.stdout   # failing lines don't fail the run
    with MLClient() as client:
        job = client.jobs.get("py-run-1")
        assert job.status == "Completed"
        assert job.properties["ember.flow_run"] == "true"
        log = job_log(client, "py-run-1")
        assert "8/10 lines completed, 2 failed" in log
        assert "first error, line 3" in log and "bad line Hello bad3" in log
        details = client.flow_runs.details("py-run-1")
    assert [d["line_number"] for d in details] == list(range(10))
    assert details[0]["outputs"] == {"output": "HELLO LINE0", "length": 11}
    assert details[3]["status"] == "Failed" and "upper" in details[3]["error"]["message"]

    r = pf("run", "show-metrics", "-n", "py-run-1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"mean_length": 11.0, "n": 8}
    r = pf("run", "show-details", "-n", "py-run-1", "-o", "json")
    rows = json.loads(r.stdout)
    assert rows[0] == {"inputs.text": "line0", "inputs.line_number": 0,
                       "outputs.output": "HELLO LINE0", "outputs.length": 11}
    assert rows[3]["outputs.output"] == "(Failed)"
    r = pf("run", "list")
    assert "py-run-1" in [v["name"] for v in json.loads(r.stdout)]


def test_evaluation_run_over_a_base_run_and_visualize(server: WorkspaceServer,
                                                      tmp_path: Path) -> None:
    data = data_file(tmp_path, 6, bad=(2,))
    client = PFClient()
    base = client.run(flow=str(PYFLOW), data=str(data),
                      column_mapping={"text": "${data.text}"}, name="base-1")
    assert base.status == "Completed"
    evaluation = client.run(flow=str(EVALFLOW), data=str(data), run=base,
                            column_mapping={"groundtruth": "${data.expected}",
                                            "prediction": "${run.outputs.output}"},
                            name="eval-1")
    assert evaluation.status == "Completed"
    # line 2 failed in the base run, so it drops out of the evaluation
    assert client.get_metrics(evaluation) == {"accuracy": 1.0}
    details = client.get_details(evaluation)
    assert list(details.columns) == ["inputs.groundtruth", "inputs.prediction",
                                     "inputs.line_number", "outputs.results"]
    assert list(details["inputs.line_number"]) == [0, 1, 3, 4, 5]
    page = client.visualize([base, evaluation], html_path=tmp_path / "runs.html")
    html = page.read_text()
    assert "eval-1.accuracy" in html and "HELLO LINE0" in html


def test_a_hung_line_times_out_and_the_run_still_ends(server: WorkspaceServer,
                                                      tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a"}\n{"text": "hang"}\n{"text": "b"}\n')
    r = pf("run", "create", "--flow", str(RUNS / "hangflow"), "--data", str(data),
           "--environment-variables", "PF_LINE_TIMEOUT_SEC=1", "--name", "hang-1", "--stream")
    assert r.returncode == 0, r.stderr + r.stdout
    with MLClient() as client:
        details = client.flow_runs.details("hang-1")
    assert [d["status"] for d in details] == ["Completed", "Failed", "Completed"]
    assert details[1]["error"]["message"] == ("line 1 did not finish within 1 s "
                                              "(PF_LINE_TIMEOUT_SEC)")
    assert details[2]["outputs"] == {"output": "B"}


def test_cancel_stops_a_run(server: WorkspaceServer, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hang"}\n')
    with MLClient() as client:
        from ember.entities.flow_runs import Run

        run = client.flow_runs.create_or_update(Run(flow=str(RUNS / "hangflow"),
                                                    data=str(data), name="hang-2"))
        wait_for(lambda: client.jobs.get("hang-2").status == "Running", timeout=120)
        client.jobs.begin_cancel(run.name or "")
        assert wait_ended(client, "hang-2").status == "Canceled"
        assert client.flow_runs.get("hang-2").status == "Canceled"


def test_bad_data_is_refused_before_submission(server: WorkspaceServer,
                                               tmp_path: Path) -> None:
    data = data_file(tmp_path, 10)
    lines = data.read_text().splitlines()
    lines[6] = '{"text": "line6", oops}'
    data.write_text("\n".join(lines) + "\n")
    r = pf("run", "create", "--flow", str(PYFLOW), "--data", str(data))
    assert r.returncode == 1
    assert "data.jsonl:7: not valid JSON" in r.stderr
    good = data_file(tmp_path, 3)
    r = pf("run", "create", "--flow", str(PYFLOW), "--data", str(good), "--column-mapping",
           "text=${data.txt}")
    assert r.returncode == 1
    assert "has no column 'txt'" in r.stderr
    with MLClient() as c:
        assert c.flow_runs.list() == []


def test_run_from_yaml_file(server: WorkspaceServer, tmp_path: Path) -> None:
    data = data_file(tmp_path, 2)
    spec = tmp_path / "run.yml"
    spec.write_text(f"flow: {PYFLOW}\ndata: {data.name}\ncolumn_mapping:\n"
                    "  text: ${data.text}\nname: yaml-run\n")
    r = pf("run", "create", "-f", str(spec), "--stream")
    assert r.returncode == 0, r.stderr
    assert json.loads(pf("run", "show", "-n", "yaml-run").stdout)["status"] == "Completed"
    spec.write_text("flow: x\nnot_a_key: 1\n")
    r = pf("run", "create", "-f", str(spec))
    assert r.returncode == 1 and "unknown key 'not_a_key'" in r.stderr


@pytest.mark.parametrize("kind", ["standard", "evaluation"])
def test_init_then_test(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / kind
    assert pf("flow", "init", "--flow", str(folder), "--type", kind).returncode == 0
    again = pf("flow", "init", "--flow", str(folder), "--type", kind)
    assert again.returncode == 1 and "pass --yes" in again.stderr
    assert pf("flow", "validate", "--source", str(folder)).returncode == 0
    inputs = (["text=World"] if kind == "standard"
              else ["groundtruth=App", "prediction=app"])
    r = pf("flow", "test", "--flow", str(folder), "--inputs", *inputs, "--no-trace")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    if kind == "standard":
        assert out == {"output_prompt": "Prompt: Write a simple World program that displays "
                                        "the greeting message."}
    else:
        assert out == {"results": "Correct"}


def test_client_flows_test_and_validate(server: WorkspaceServer) -> None:
    with MLClient() as client:
        assert client.flows.test(PYFLOW, inputs={"text": "sdk"}) == {"output": "HELLO SDK",
                                                                     "length": 9}
        flow = client.flows.validate(PYFLOW)
        assert [n.name for n in flow.nodes] == ["greet", "upper", "agg"]
        assert PFClient().test(flow=str(PYFLOW), inputs={"text": "pf"})["output"] == "HELLO PF"


def test_flow_requirements_are_installed_into_the_run_only(server: WorkspaceServer,
                                                           tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "moo"}\n')
    r = pf("run", "create", "--flow", str(RUNS / "reqflow"), "--data", str(data), "--name",
           "req-1", "--stream")
    assert r.returncode == 0, r.stderr + r.stdout
    with MLClient() as client:
        details = client.flow_runs.details("req-1")
    assert details[0]["outputs"] == {"out": "| moo |"}
    import importlib.util

    assert importlib.util.find_spec("cowsay") is None   # not in Ember's own environment


def test_llm_lines_that_get_429_or_no_answer_fail_alone(server: WorkspaceServer,
                                                        tmp_path: Path) -> None:
    import threading

    from ember.entities.connections import Connection
    from tests.flows.openai_stub import OpenAIStub

    release = threading.Event()
    with OpenAIStub() as stub, MLClient() as client:
        client.connections.create_or_update(Connection(
            name="smol", type="open_ai", configs={"base_url": stub.url + "/v1"},
            secrets={"api_key": "sk-stub"}))
        stub.fail(429, count=1)      # line 0: refused, no retry left
        stub.hang(release)           # line 1: no answer within the timeout
        data = tmp_path / "q.jsonl"
        data.write_text("".join(json.dumps({"question": f"q{i}"}) + "\n" for i in range(3)))
        r = pf("run", "create", "--flow", str(Path(__file__).parent / "llm_flows" / "chat"),
               "--data", str(data), "--column-mapping", "question=${data.question}",
               "--name", "llm-errors", "--stream", "--environment-variables",
               "PF_WORKER_COUNT=1", "EMBER_FLOW_LLM_MAX_RETRIES=0",
               "EMBER_FLOW_LLM_TIMEOUT=1")
        release.set()
        assert r.returncode == 0, r.stderr + r.stdout
        details = client.flow_runs.details("llm-errors")
    assert [d["status"] for d in details] == ["Failed", "Failed", "Completed"]
    assert "429" in details[0]["error"]["message"] and "chat" in details[0]["error"]["message"]
    assert "no answer within 1 s" in details[1]["error"]["message"]
    assert details[2]["outputs"] == {"answer": "echo: q2"}
    assert "sk-stub" not in json.dumps(details)


def test_connections_override_per_run(server: WorkspaceServer) -> None:
    from ember.entities.connections import Connection
    from tests.flows.openai_stub import OpenAIStub

    with OpenAIStub() as stub, MLClient() as client:
        client.connections.create_or_update(Connection(
            name="other", type="open_ai", configs={"base_url": stub.url + "/v1"},
            secrets={"api_key": "sk-other"}))
        chat = Path(__file__).parent / "llm_flows" / "chat"
        r = pf("flow", "test", "--flow", str(chat), "--inputs", "question=hi", "--no-trace")
        assert r.returncode == 1 and "'smol'" in r.stderr     # the flow's own: not here
        r = pf("flow", "test", "--flow", str(chat), "--inputs", "question=hi", "--no-trace",
               "--connections", "chat.connection=other", "chat.deployment_name=zzz")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"answer": "echo: hi"}
        sent = stub.requests[-1]
        assert sent.body["model"] == "zzz"
        assert sent.headers["authorization"] == "Bearer sk-other"
