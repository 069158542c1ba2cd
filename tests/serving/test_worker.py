"""The deployment worker as a real subprocess (``python -m ember.serving.worker cfg.json``),
spoken to over real HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ember.serving import worker as worker_module
from tests.serving.conftest import sklearn_mlflow_model

# How a deployment whose environment has its own python starts the worker: by path.
WORKER_FILE = worker_module.__file__

SCORE = """
import json, os, time

import helper  # a sibling module: code_dir is on sys.path

weights = None

def init():
    global weights
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "weights.txt")) as fh:
        weights = float(fh.read())

def run(raw_data):
    data = json.loads(raw_data)
    kind = data.get("kind")
    if kind == "fail":
        raise ValueError("bad input: " + data["why"])
    if kind == "bytes":
        return b"\\x00\\x01binary"
    if kind == "text":
        return "plain text"
    if kind == "numpy":
        import numpy as np
        import pandas as pd
        return {"array": np.arange(3) * weights, "scalar": np.int64(7),
                "frame": pd.DataFrame({"a": [1, 2]}), "series": pd.Series([True, False])}
    if kind == "sleep":
        open("sleeping", "w").close()
        time.sleep(data["seconds"])
        return "slept"
    return {"scaled": [x * weights for x in data["data"]], "greeting": os.environ.get("GREETING"),
            "cwd": os.getcwd(), "model_dir": os.environ["AZUREML_MODEL_DIR"],
            "helper": helper.VALUE, "raw_type": type(raw_data).__name__}
"""


class Worker:
    """One worker subprocess with its config, port file and stderr log in ``folder``."""

    def __init__(self, folder: Path, argv: list[str] | None = None, **config: Any) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port_file = folder / "port"
        self.log = folder / "stderr.txt"
        self.port = 0
        cfg = {"workspace": "ws", "endpoint": "ep", "deployment": "blue", "host": "127.0.0.1",
               "port": 0, "port_file": str(self.port_file), **config}
        self.config = cfg
        (folder / "config.json").write_text(json.dumps(cfg))
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [*(argv or [sys.executable, "-m", "ember.serving.worker"]),
                 str(folder / "config.json")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=folder)

    def wait_ready(self, timeout: float = 90.0) -> Worker:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.port_file.exists():
                self.port = int(self.port_file.read_text())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.stderr()}")
            time.sleep(0.05)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, str, bytes]:
        """(status, content type, body) over ``conn`` or a fresh connection."""
        own = conn is None
        c = conn or self.connect()
        try:
            data = body.encode() if isinstance(body, str) else body
            c.request(method, path, body=data, headers={"Content-Type": "application/json"})
            resp = c.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            if own:
                c.close()

    def score(self, payload: Any) -> tuple[int, Any]:
        status, _, body = self.request("POST", "/score", json.dumps(payload))
        return status, json.loads(body)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def script_project(root: Path, score: str = SCORE) -> dict[str, Any]:
    """A code folder and a model folder; the worker config keys that point at them."""
    (root / "code").mkdir(parents=True)
    (root / "code/score.py").write_text(textwrap.dedent(score).lstrip())
    (root / "code/helper.py").write_text("VALUE = 'from helper'\n")
    (root / "models/model").mkdir(parents=True)
    (root / "models/model/weights.txt").write_text("2.5")
    return {"kind": "script", "code_dir": str(root / "code"), "scoring_script": "score.py",
            "model_dir": str(root / "models"), "environment_variables": {"GREETING": "hello"}}


@pytest.fixture(scope="module")
def script_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    root = tmp_path_factory.mktemp("script")
    worker = Worker(root / "worker", **script_project(root)).wait_ready()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def mlflow_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    root = tmp_path_factory.mktemp("mlflow")
    model = sklearn_mlflow_model(root / "model")   # columns x1, x2 (double); class 1 ⇔ x1 > x2
    worker = Worker(root / "worker", kind="mlflow", model_path=str(model),
                    model_dir=str(root)).wait_ready()
    yield worker
    worker.stop()


def test_importing_the_worker_loads_no_third_party_code() -> None:
    code = ("import sys, ember.serving.worker; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'pydantic', "
            "'sqlalchemy', 'httpx', 'mlflow', 'pandas', 'numpy', 'orjson', 'psutil', "
            "'starlette', 'uvicorn'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_worker_runs_as_a_file_where_ember_is_not_installed(tmp_path: Path) -> None:
    # -S: no site-packages, so ember (installed there) cannot be imported at all.
    config = script_project(tmp_path, score="""
        import sys

        def run(raw_data):
            return {"ember": sorted(m for m in sys.modules if m.split(".")[0] == "ember"),
                    "path": sys.path, "echo": raw_data}
        """)
    worker = Worker(tmp_path / "worker", argv=[sys.executable, "-S", WORKER_FILE],
                    **config).wait_ready()
    try:
        status, result = worker.score({"x": 1})
        assert status == 200 and result["ember"] == [] and result["echo"] == '{"x": 1}'
        assert str(Path(WORKER_FILE).parent) not in result["path"]   # no shadowing of user code
        assert worker.score({"x": 1}) == (200, result)
        status, _, body = worker.request("POST", "/score", b"\xff")
        assert status == 400 and json.loads(body)["error_code"] == "BAD_REQUEST"
    finally:
        worker.stop()
    assert worker.proc.returncode == 0


# --- scoring scripts ------------------------------------------------------------------------


def test_script_init_sees_model_dir_and_run_sees_environment(script_worker: Worker) -> None:
    assert script_worker.request("GET", "/")[::2] == (200, b'{"status": "alive"}')
    assert script_worker.request("GET", "/ready")[::2] == (200, b'{"ready": true}')
    status, result = script_worker.score({"data": [1, 2]})
    assert status == 200
    config = script_worker.config
    assert result == {"scaled": [2.5, 5.0], "greeting": "hello",
                      "cwd": str(Path(config["code_dir"]).resolve()),
                      "model_dir": config["model_dir"], "helper": "from helper",
                      "raw_type": "str"}


def test_script_results_are_encoded_like_azure(script_worker: Worker) -> None:
    status, ctype, body = script_worker.request("POST", "/score", '{"kind": "text"}')
    assert (status, ctype, body) == (200, "application/json", b'"plain text"')
    status, ctype, body = script_worker.request("POST", "/score", '{"kind": "bytes"}')
    assert (status, ctype, body) == (200, "application/octet-stream", b"\x00\x01binary")
    status, result = script_worker.score({"kind": "numpy"})
    assert status == 200
    assert result == {"array": [0.0, 2.5, 5.0], "scalar": 7, "frame": [{"a": 1}, {"a": 2}],
                      "series": [True, False]}


def test_script_error_is_a_user_error_with_the_traceback_in_the_log(
        script_worker: Worker) -> None:
    status, body = script_worker.score({"kind": "fail", "why": "no cheese"})
    assert status == 500
    assert body == {"error_code": "USER_ERROR", "message": "ValueError: bad input: no cheese"}
    log = script_worker.stderr()
    assert "Traceback (most recent call last)" in log
    assert 'score.py", line' in log and "ValueError: bad input: no cheese" in log
    assert script_worker.score({"data": [1]})[0] == 200   # still serving


def test_non_utf8_body_is_a_bad_request(script_worker: Worker) -> None:
    status, _, body = script_worker.request("POST", "/score", b'{"data": "\xff\xfe"}')
    assert status == 400
    error = json.loads(body)
    assert error["error_code"] == "BAD_REQUEST" and "UTF-8" in error["message"]


def test_keep_alive_serves_many_requests_on_one_connection(script_worker: Worker) -> None:
    conn = script_worker.connect()
    try:
        conn.connect()
        sock = conn.sock
        for i in range(5):
            status, _, body = script_worker.request("POST", "/score",
                                                    json.dumps({"data": [i]}), conn=conn)
            assert status == 200 and json.loads(body)["scaled"] == [2.5 * i]
        status, _, _ = script_worker.request("GET", "/ready", conn=conn)
        assert status == 200
        status, _, _ = script_worker.request("POST", "/score", b"\xff", conn=conn)  # a 400 too
        assert status == 400
        status, _, _ = script_worker.request("POST", "/score", '{"data": [1]}', conn=conn)
        assert status == 200
        assert conn.sock is sock   # never reconnected
    finally:
        conn.close()


def test_unknown_route_and_oversized_body(script_worker: Worker) -> None:
    status, _, body = script_worker.request("POST", "/predict", "{}")
    assert status == 404 and json.loads(body)["error_code"] == "NOT_FOUND"
    conn = script_worker.connect()
    try:
        conn.putrequest("POST", "/score")
        conn.putheader("Content-Length", str(100 * 1024 * 1024 + 1))
        conn.endheaders()   # the body is never sent: the worker answers from the headers
        resp = conn.getresponse()
        assert resp.status == 413 and resp.getheader("Connection") == "close"
        assert json.loads(resp.read())["error_code"] == "PAYLOAD_TOO_LARGE"
    finally:
        conn.close()


def test_init_failure_exits_3_with_the_traceback(tmp_path: Path) -> None:
    config = script_project(tmp_path, score="""
        def init():
            raise RuntimeError("weights are missing")

        def run(raw_data):
            return raw_data
        """)
    worker = Worker(tmp_path / "worker", **config)
    assert worker.proc.wait(60) == 3
    log = worker.stderr()
    assert "Traceback (most recent call last)" in log and "in init" in log
    assert "RuntimeError: weights are missing" in log
    assert not worker.port_file.exists()


def test_script_that_cannot_be_imported_exits_3(tmp_path: Path) -> None:
    config = script_project(tmp_path, score="def run(raw_data:\n    return 1\n")
    worker = Worker(tmp_path / "worker", **config)
    assert worker.proc.wait(60) == 3
    assert "SyntaxError" in worker.stderr()
    assert not worker.port_file.exists()


def test_sigterm_finishes_the_request_in_flight_then_exits_0(tmp_path: Path) -> None:
    config = script_project(tmp_path)
    worker = Worker(tmp_path / "worker", **config).wait_ready()
    try:
        answers: list[tuple[int, str, bytes]] = []
        slow = threading.Thread(target=lambda: answers.append(worker.request(
            "POST", "/score", '{"kind": "sleep", "seconds": 1.0}')))
        slow.start()
        sleeping = Path(config["code_dir"]) / "sleeping"
        deadline = time.monotonic() + 10
        while not sleeping.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sleeping.exists()
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(15) == 0
        slow.join(5)
        assert answers == [(200, "application/json", b'"slept"')]
        with pytest.raises(ConnectionError):
            worker.request("GET", "/")
    finally:
        worker.stop()


# --- no-code MLflow models ------------------------------------------------------------------


def test_mlflow_model_scores_the_three_azure_payload_forms(mlflow_worker: Worker) -> None:
    assert mlflow_worker.request("GET", "/ready")[0] == 200
    split = {"input_data": {"columns": ["x1", "x2"], "index": [0, 1],
                            "data": [[0.0, 1.0], [1.0, 0.0]]}}
    assert mlflow_worker.score(split) == (200, [0, 1])
    reordered = {"input_data": {"columns": ["x2", "x1"], "data": [[1.0, 0.0], [0.0, 1.0]]}}
    assert mlflow_worker.score(reordered) == (200, [0, 1])
    assert mlflow_worker.score({"input_data": [[0.0, 1.0], [1.0, 0.0]]}) == (200, [0, 1])
    assert mlflow_worker.score({"input_data": [[0, 1], [7, 2]]}) == (200, [0, 1])  # ints → double
    named = {"input_data": {"x1": [0.0, 1.0, 0.9], "x2": [1.0, 0.0, 0.2]}}
    assert mlflow_worker.score(named) == (200, [0, 1, 1])
    assert mlflow_worker.score({"input_data": [[1.0, 0.0]], "params": {}}) == (200, [1])


@pytest.mark.parametrize(("payload", "words"), [
    ({"input_data": {"columns": ["x1", "y"], "data": [[0.0, 1.0]]}}, ["x2", "missing"]),
    ({"input_data": [["abc", 1.0]]}, ["x1", "abc"]),
    ({"input_data": {"x1": ["abc"], "x2": [1.0]}}, ["x1", "abc"]),
    ({"input_data": [[0.0, 1.0, 2.0]]}, ["3 values", "2 columns", "x1"]),
    ({"inputs": [[0.0, 1.0]]}, ["input_data", "split-orientation", "named tensors"]),
    ([[0.0, 1.0]], ["input_data"]),
    ({"input_data": 3}, ["input_data"]),
])
def test_mlflow_payloads_the_model_refuses_are_bad_requests(
        mlflow_worker: Worker, payload: Any, words: list[str]) -> None:
    status, body = mlflow_worker.score(payload)
    assert status == 400 and body["error_code"] == "BAD_REQUEST", body
    for word in words:
        assert word in body["message"], body["message"]


def test_mlflow_body_that_is_not_json(mlflow_worker: Worker) -> None:
    status, _, body = mlflow_worker.request("POST", "/score", "x1=0.0&x2=1.0")
    assert status == 400
    error = json.loads(body)
    assert error["error_code"] == "BAD_REQUEST"
    assert "not valid JSON" in error["message"] and "input_data" in error["message"]


def test_mlflow_worker_runs_as_a_file(mlflow_worker: Worker, tmp_path: Path) -> None:
    worker = Worker(tmp_path / "worker", argv=[sys.executable, WORKER_FILE], kind="mlflow",
                    model_path=mlflow_worker.config["model_path"]).wait_ready()
    try:
        assert worker.score({"input_data": [[0.0, 1.0], [1.0, 0.0]]}) == (200, [0, 1])
        status, body = worker.score({"input_data": [["abc", 1.0]]})
        assert status == 400 and "x1" in body["message"]
    finally:
        worker.stop()


def test_mlflow_keep_alive(mlflow_worker: Worker) -> None:
    conn = mlflow_worker.connect()
    try:
        for _ in range(3):
            status, ctype, body = mlflow_worker.request(
                "POST", "/score", '{"input_data": [[1.0, 0.0]]}', conn=conn)
            assert (status, ctype, json.loads(body)) == (200, "application/json", [1])
        sock = conn.sock
        assert mlflow_worker.request("POST", "/score", "{}", conn=conn)[0] == 400
        assert mlflow_worker.request("POST", "/score", '{"input_data": [[0.0, 1.0]]}',
                                     conn=conn)[::2] == (200, b"[0]")
        assert conn.sock is sock
    finally:
        conn.close()


def test_liveness_fails_while_a_run_holds_the_worker_past_the_request_timeout(
        tmp_path: Path) -> None:
    """run() is entered one call at a time: once a call has held it longer than
    request_timeout_ms, GET / answers 503 STUCK (the router gave up on that request, and every
    later one would wait behind it); it answers 200 again when run() returns. Stopped while
    stuck, the worker writes its threads' stacks to its log."""
    config = script_project(tmp_path)
    worker = Worker(tmp_path / "worker", request_timeout_ms=200, **config).wait_ready()
    sleeping = Path(config["code_dir"]) / "sleeping"
    try:
        assert worker.request("GET", "/")[0] == 200
        slow = threading.Thread(target=worker.score, args=({"kind": "sleep", "seconds": 3},))
        slow.start()

        def stuck() -> bool:
            return worker.request("GET", "/")[0] == 503
        deadline = time.monotonic() + 30
        while not (sleeping.exists() and stuck()):
            assert time.monotonic() < deadline, "the worker never said it was stuck"
            time.sleep(0.02)
        status, _, body = worker.request("GET", "/")
        reply = json.loads(body)
        assert status == 503 and reply["error_code"] == "STUCK"
        assert "run() has not returned" in reply["message"]
        slow.join()
        assert worker.request("GET", "/")[0] == 200

        sleeping.unlink()
        def score_until_stopped() -> None:
            try:
                worker.score({"kind": "sleep", "seconds": 8})
            except (OSError, http.client.HTTPException):
                pass   # the worker is stopped under it
        again = threading.Thread(target=score_until_stopped)
        again.start()
        while not (sleeping.exists() and stuck()):
            assert time.monotonic() < deadline, "the worker never said it was stuck"
            time.sleep(0.02)
        worker.stop()
        assert "stopping while run() has not returned" in worker.stderr()
        assert 'score.py", line' in worker.stderr() and " in run" in worker.stderr()
        again.join()
    finally:
        worker.stop()
