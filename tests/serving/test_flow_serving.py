"""Serving prompt flows: ``serve_flow`` (what ``ember pf flow serve`` runs) and the flow worker
(``python -m ember.serving.flow.worker``) as real subprocesses over real HTTP, and a flow folder
registered as a model and deployed online without a scoring script, called through the
router."""

from __future__ import annotations

import json
import stat
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.models import Model
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint
from tests.conftest import WorkspaceServer, wait_for
from tests.flows.openai_stub import OpenAIStub
from tests.serving.test_worker import Worker

FLOWS = Path(__file__).with_name("flows")

# serve_flow in a child process: arguments as one JSON document (source, connections, env).
SERVE = """
import json, sys
from pathlib import Path
from ember.flows.connections import StaticConnections
from ember.serving.flow.worker import serve_flow

a = json.loads(sys.argv[1])
conns = a.get("connections")
serve_flow(Path(a["source"]), host="127.0.0.1", port=0,
           environment_variables=a.get("env"),
           connections=StaticConnections(conns) if conns is not None else None)
"""


class Served:
    """``serve_flow`` in a subprocess; ``url`` is what it printed."""

    def __init__(self, source: Path, *, connections: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        args = json.dumps({"source": str(source), "connections": connections, "env": env})
        self.proc = subprocess.Popen([sys.executable, "-c", SERVE, args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        line = found[0] if found else ""
        if "http://" not in line:
            self.stop()
            raise RuntimeError(f"serve_flow did not start: {line!r}\n{''.join(self.stderr)}")
        self.printed = line.strip()
        self.url = line.split(" at ", 1)[1].split()[0]

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture(scope="module")
def basic() -> Iterator[Served]:
    served = Served(FLOWS / "basic")
    yield served
    served.stop()


def test_score_health_swagger_and_errors(basic: Served) -> None:
    assert basic.printed.startswith("Serving flow basic at http://127.0.0.1:")
    with httpx.Client(base_url=basic.url, timeout=30) as c:
        ok = c.post("/score", json={"question": "hi", "extra": "ignored"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"answer": "Hello world: HI (2)", "length": 2}
        assert c.post("/score", json={"question": "hi", "name": "Ann"}).json()["answer"] == \
            "Hello Ann: HI (2)"

        missing = c.post("/score", json={"name": "Ann"})
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == "UserError"
        assert "question" in missing.json()["error"]["message"]

        not_object = c.post("/score", content=b"[1, 2]")   # two inputs: an object is needed
        assert not_object.status_code == 400 and "question" in not_object.text

        boom = c.post("/score", json={"question": "boom"})
        assert boom.status_code == 500
        assert boom.json() == {"error": {"code": "UserError", "message": (
            "Execution failure in 'check': (ValueError) the question was boom")}}
        assert "Traceback" not in boom.text

        refused = c.post("/score", json={"question": "hi"}, headers={"Accept": "text/html"})
        assert refused.status_code == 406 and refused.json()["error"]["code"] == "UserError"

        assert c.get("/health").json() == {"status": "Healthy", "version": "0.1.0"}
        assert c.get("/version").json()["status"] == "Healthy"
        assert c.get("/").status_code == 200 and c.get("/ready").json() == {"ready": True}
        spec = c.get("/swagger.json").json()
        body = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["required"] == ["question"]
        assert body["schema"]["properties"]["name"] == {"type": "string", "default": "world"}
        assert c.get("/nowhere").status_code == 404
    # the node's traceback went to the log, not to the caller
    wait_for(lambda: "the question was boom" in "".join(basic.stderr), timeout=10)
    assert "Traceback" in "".join(basic.stderr)


def test_requests_overlap(basic: Served) -> None:
    """Two requests meet at a threading.Barrier(2) inside a tool: each returns only if the other
    is running at the same time (served one after the other, the barrier breaks)."""
    def ask(q: str) -> httpx.Response:
        return httpx.post(f"{basic.url}/score", json={"question": q}, timeout=60)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(ask, ["meet a", "meet bb"]))
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert [r.json()["length"] for r in answers] == [6, 7]


def test_single_input_takes_any_body() -> None:
    served = Served(FLOWS / "single")
    try:
        with httpx.Client(base_url=served.url, timeout=30) as c:
            text = c.post("/score", content=b"just text",
                          headers={"Content-Type": "text/plain"})
            assert text.status_code == 200 and text.json() == {"echo": "echo: just text"}
            assert c.post("/score", json="a JSON string").json() == {"echo": "echo: a JSON string"}
            assert c.post("/score", json={"text": "keyed"}).json() == {"echo": "echo: keyed"}
    finally:
        assert served.stop() == 0   # SIGTERM: drained and returned


def _events(response: httpx.Response) -> list[Any]:
    return [json.loads(line[len("data: "):]) for line in response.iter_lines()
            if line.startswith("data: ")]


def test_generator_output_streams_as_sse() -> None:
    served = Served(FLOWS / "stream")
    try:
        with httpx.Client(base_url=served.url, timeout=30) as c:
            with c.stream("POST", "/score", json={"n": 3},
                          headers={"Accept": "text/event-stream"}) as r:
                assert r.status_code == 200
                assert r.headers["content-type"] == "text/event-stream"
                assert r.headers["transfer-encoding"] == "chunked"
                events = _events(r)
            assert events == [{"count": 3}, {"answer": "w0 "}, {"answer": "w1 "},
                              {"answer": "w2 "}]
            # no event-stream in Accept: the generator is joined into the JSON answer
            assert c.post("/score", json={"n": 2}).json() == {"answer": "w0 w1 ", "count": 2}
    finally:
        served.stop()


def test_llm_flow_streams_with_env_overridden_connection() -> None:
    with OpenAIStub() as stub:
        conns = {"local_openai": {"type": "open_ai", "api_key": "sk-stale",
                                  "base_url": stub.url + "/v1"}}
        served = Served(FLOWS / "chat", connections=conns,
                        env={"LOCAL_OPENAI_API_KEY": "sk-from-env"})
        try:
            with httpx.Client(base_url=served.url, timeout=30) as c:
                whole = c.post("/score", json={"question": "hello there"})
                assert whole.status_code == 200, whole.text
                assert whole.json() == {"answer": "echo: hello there"}
                with c.stream("POST", "/score", json={"question": "two words"},
                              headers={"Accept": "text/event-stream, application/json"}) as r:
                    assert r.headers["content-type"] == "text/event-stream"
                    events = _events(r)
            assert len(events) > 1 and all(list(e) == ["answer"] for e in events)
            assert "".join(e["answer"] for e in events) == "echo: two words"
            assert [q.headers["authorization"] for q in stub.requests] == \
                ["Bearer sk-from-env"] * 2
            assert [bool(q.body.get("stream")) for q in stub.requests] == [False, True]
        finally:
            served.stop()


def test_worker_process_obeys_the_protocol(tmp_path: Path) -> None:
    worker = Worker(tmp_path / "w", argv=[sys.executable, "-m", "ember.serving.flow.worker"],
                    kind="flow", flow_dir=str(FLOWS / "basic"), model_dir=str(FLOWS),
                    server_file=str(tmp_path / "no-server.json"), request_timeout_ms=30000,
                    notes=["a note for the log"])
    try:
        worker.wait_ready(60)
        assert worker.request("GET", "/")[0] == 200
        assert worker.request("GET", "/ready")[0] == 200
        assert worker.score({"question": "hey"}) == (200, {"answer": "Hello world: HEY (3)",
                                                           "length": 3})
        assert "a note for the log" in worker.stderr()
    finally:
        worker.stop()
    assert worker.proc.returncode == 0


def test_worker_exits_3_on_a_broken_flow(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/flow.dag.yaml").write_text("inputs: {}\noutputs: {}\nnodes:\n- name: x\n")
    worker = Worker(tmp_path / "w", argv=[sys.executable, "-m", "ember.serving.flow.worker"],
                    kind="flow", flow_dir=str(tmp_path / "bad"))
    assert worker.proc.wait(60) == 3
    assert "the flow did not load" in worker.stderr()


def test_flow_folder_deployed_online_through_the_router(server: WorkspaceServer) -> None:
    with MLClient() as c:
        c.models.create_or_update(Model(name="stream-flow", path=str(FLOWS / "stream"),
                                        type="custom_model"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="flow-ep"))
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="flow-ep", model="azureml:stream-flow:1"),
            all_traffic=True).result(timeout=120)
        assert d.provisioning_state == "Succeeded", d.error
        ep = c.online_endpoints.get("flow-ep")
        key = c.online_endpoints.get_keys("flow-ep").primary_key
        assert json.loads(c.online_endpoints.invoke("flow-ep", body='{"n": 2}')) == \
            {"answer": "w0 w1 ", "count": 2}
    auth = {"Authorization": f"Bearer {key}"}
    assert ep.scoring_uri
    bad = httpx.post(ep.scoring_uri, json={"n": "many"}, headers=auth, timeout=30)
    assert bad.status_code == 400 and "'n'" in bad.json()["error"]["message"]
    with httpx.stream("POST", ep.scoring_uri, json={"n": 3}, timeout=30,
                      headers={**auth, "Accept": "text/event-stream"}) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        assert r.headers["azureml-model-deployment"] == "blue"
        events = _events(r)
    assert events == [{"count": 3}, {"answer": "w0 "}, {"answer": "w1 "}, {"answer": "w2 "}]


def test_deployed_llm_flow_reads_its_connection_from_the_server(server: WorkspaceServer
                                                                ) -> None:
    from ember.entities.connections import Connection

    with OpenAIStub() as stub, MLClient() as c:
        c.connections.create_or_update(Connection(
            name="local_openai", type="open_ai", configs={"base_url": stub.url + "/v1"},
            secrets={"api_key": "sk-server-held-1234"}))
        c.models.create_or_update(Model(name="chat-flow", path=str(FLOWS / "chat"),
                                        type="custom_model"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="chat-ep"))
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="chat-ep", model="azureml:chat-flow:1"),
            all_traffic=True).result(timeout=120)
        assert d.provisioning_state == "Succeeded", d.error
        # a flow deployment gets the language-model request defaults (requests overlap)
        assert (d.request_settings.max_concurrent_requests_per_instance or 0) > 1
        answer = json.loads(c.online_endpoints.invoke("chat-ep", body='{"question": "hi you"}'))
        assert answer == {"answer": "echo: hi you"}
        assert stub.requests[-1].headers["authorization"] == "Bearer sk-server-held-1234"
        # the worker got the server's address and its own token (owner-only), not the secret
        for path in (server.home / "serving").rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert b"sk-server-held-1234" not in path.read_bytes(), path
        configs = list((server.home / "serving").rglob("config.json"))
        assert configs and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in configs)
        mine = [p for p in configs if "chat-ep" in p.parts and server.workspace in p.parts]
        assert len(mine) == 1, configs   # this module's other tests deployed flows too
        token = json.loads(mine[0].read_text())["server_token"]
        r = httpx.post(f"{server.api()}/connections/local_openai/listsecrets",
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        # the deployment's token dies with its endpoint
        c.online_endpoints.begin_delete("chat-ep").result()
        r = httpx.post(f"{server.api()}/connections/local_openai/listsecrets",
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_a_broken_flow_folder_is_refused_at_create(server: WorkspaceServer,
                                                   tmp_path: Path) -> None:
    from ember.errors import EmberError

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/flow.dag.yaml").write_text(
        "inputs: {}\noutputs:\n  x: {type: string, reference: '${nowhere.output}'}\nnodes: []\n")
    with MLClient() as c:
        c.models.create_or_update(Model(name="broken-flow", path=str(tmp_path / "broken"),
                                        type="custom_model"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="broken-ep"))
        with pytest.raises(EmberError) as raised:
            c.online_deployments.begin_create_or_update(OnlineDeployment(
                name="blue", endpoint_name="broken-ep", model="azureml:broken-flow:1"))
    assert "flow.dag.yaml" in str(raised.value) and "nowhere" in str(raised.value)


def test_each_request_is_a_trace_in_the_workspace(server: WorkspaceServer) -> None:
    tracking = server.tracking_uri
    created = httpx.post(f"{tracking}/api/2.0/mlflow/experiments/create",
                         json={"name": "served-flow"}, headers=server.headers,
                         timeout=30)
    experiment = created.json()["experiment_id"]
    served = Served(FLOWS / "basic", env={"MLFLOW_TRACKING_URI": tracking,
                                         "MLFLOW_EXPERIMENT_ID": experiment})
    try:
        for q in ("one", "two"):
            assert httpx.post(f"{served.url}/score", json={"question": q},
                              timeout=30).status_code == 200
        def searched() -> list[Any]:
            found = httpx.post(f"{tracking}/api/3.0/mlflow/traces/search",
                               json={"experiment_ids": [experiment]},
                               headers=server.headers, timeout=30)
            return list(found.json().get("traces", []))

        traces = wait_for(lambda: len(t := searched()) >= 2 and t, timeout=30)
        assert len(traces) == 2, traces
        assert {t["tags"]["mlflow.traceName"] for t in traces} == {"basic"}
        assert sorted(json.loads(t["request_preview"])["question"] for t in traces) == \
            ["one", "two"]
    finally:
        served.stop()
