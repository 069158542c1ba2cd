"""The batch scoring driver as a real subprocess run by file path, as a batch job runs it:
``python ember/serving/batch_driver.py --input ... --output ...`` with EMBER_BATCH_CONFIG, the
working directory a copy of the deployment's code folder."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ember.serving
from tests.serving.conftest import sklearn_mlflow_model

SERVING = Path(ember.serving.__file__).parent
DRIVER = SERVING / "batch_driver.py"

# What each input file holds decides what run() does with it; markers in the working
# directory make a behaviour happen on the first attempt only.
SCORE = """
import os, time

def init():
    with open("inits.txt", "a") as fh:
        fh.write(f"{os.getpid()}\\n")

def run(mini_batch):
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        text = open(path).read().strip()
        first = not os.path.exists(name + ".seen")
        open(name + ".seen", "a").close()
        if text == "raise":
            raise ValueError(f"cannot score {name}")
        if text == "skip":
            continue
        if text == "flaky" and first:
            raise RuntimeError(f"first attempt at {name} fails")
        if text == "hang" and first:
            time.sleep(60)
        if text == "crash" and first:
            os._exit(3)
        if text.startswith("sleep"):
            time.sleep(float(text.split()[1]))
        out.append(f"{name} {text} {os.getpid()} {os.environ.get('AZUREML_MODEL_DIR')}")
    return out
"""


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    code: Path
    output: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.code / "logs" / "batch_summary.json").read_text())

    @property
    def rows(self) -> list[str]:
        return (self.output / "predictions.csv").read_text().splitlines()

    def inits(self) -> list[str]:
        return (self.code / "inits.txt").read_text().split()


def project(tmp_path: Path, inputs: dict[str, str], script: str = SCORE) -> Path:
    """``tmp_path/code/score.py`` and ``tmp_path/input/<name>`` for each input."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(textwrap.dedent(script).lstrip())
    folder = tmp_path / "input"
    folder.mkdir()
    for name, text in inputs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return tmp_path


def start(root: Path, config: dict[str, Any], input_path: Path | None = None,
          flags: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    cfg = {"kind": "script", "scoring_script": "score.py", **config}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AZUREML_MODEL_DIR")}
    env["EMBER_BATCH_CONFIG"] = json.dumps(cfg)
    return subprocess.Popen(
        [sys.executable, *flags, str(DRIVER), "--input", str(input_path or root / "input"),
         "--output", str(root / "output")],
        cwd=root / "code", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def drive(root: Path, config: dict[str, Any], input_path: Path | None = None,
          flags: tuple[str, ...] = (), timeout: float = 60) -> Result:
    proc = start(root, config, input_path, flags)
    stdout, stderr = proc.communicate(timeout=timeout)
    return Result(proc.returncode, stdout, stderr, root / "code", root / "output")


def test_list_results_in_mini_batch_order_with_a_stdlib_only_python(tmp_path: Path) -> None:
    inputs = {f"f{i}.txt": "ok" for i in range(5)} | {"sub/g.txt": "ok", ".hidden": "raise",
                                                       ".git/x.txt": "raise"}
    root = project(tmp_path, inputs)
    # -S: no site-packages, so importing ember or anything third-party would fail.
    res = drive(root, {"mini_batch_size": 2, "max_concurrency_per_instance": 2,
                       "model_dir": str(tmp_path / "model")}, flags=("-S",))
    assert res.rc == 0, res.stderr
    names = [row.split()[0] for row in res.rows]
    assert names == ["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt", "g.txt"]
    assert all(row.endswith(str(tmp_path / "model")) for row in res.rows)
    assert res.summary | {"elapsed_seconds": 0} == {
        "status": "completed", "files": 6, "succeeded": 6, "failed": 0, "failed_files": [],
        "short_mini_batches": [], "mini_batches": 3, "mini_batches_done": 3,
        "error_threshold": -1, "elapsed_seconds": 0,
        "output": str(tmp_path / "output" / "predictions.csv")}
    assert "[batch] 2/6 files done, 0 failed" in res.stdout
    assert "[batch] 6/6 files done, 0 failed" in res.stdout
    assert sorted(os.listdir(tmp_path / "output")) == ["predictions.csv"]


def test_a_single_file_input(tmp_path: Path) -> None:
    root = project(tmp_path, {"one.txt": "ok", "two.txt": "ok"})
    res = drive(root, {}, input_path=root / "input" / "two.txt")
    assert res.rc == 0, res.stderr
    assert [row.split()[0] for row in res.rows] == ["two.txt"]


def _import_time_imports(body: list[ast.stmt]) -> list[str]:
    """Modules imported when a module with this body loads (not inside functions, and not
    under ``if TYPE_CHECKING``, which only mypy reads)."""
    found: list[str] = []
    for node in body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                found += _import_time_imports(node.body)
            found += _import_time_imports(node.orelse)
        elif isinstance(node, (ast.Try, ast.With)):
            found += _import_time_imports(node.body)
    return found


def test_only_the_standard_library_is_imported_at_module_level() -> None:
    allowed = set(sys.stdlib_module_names) | {"_batch_worker", "_batch_pool", "_batch_mlflow"}
    for path in [DRIVER, *SERVING.glob("_batch_*.py")]:
        for module in _import_time_imports(ast.parse(path.read_text()).body):
            assert module.split(".")[0] in allowed, f"{path.name} imports {module}"


def test_dataframe_results_become_csv_rows_without_header(tmp_path: Path) -> None:
    script = """
    import os
    import pandas as pd

    def run(mini_batch):
        return pd.DataFrame({"file": [os.path.basename(p) for p in mini_batch],
                             "chars": [len(open(p).read()) for p in mini_batch],
                             "note": ["a, b" for _ in mini_batch]})
    """
    root = project(tmp_path, {"a.txt": "x", "b.txt": "yy", "c.txt": "zzz"}, script)
    res = drive(root, {"mini_batch_size": 2})
    assert res.rc == 0, res.stderr
    assert res.rows == ['a.txt,1,"a, b"', 'b.txt,2,"a, b"', 'c.txt,3,"a, b"']


def test_failed_mini_batches_under_the_error_threshold(tmp_path: Path) -> None:
    inputs = {"a1.txt": "ok", "a2.txt": "ok", "b1.txt": "ok", "b2.txt": "raise", "c1.txt": "ok"}
    root = project(tmp_path, inputs)
    res = drive(root, {"mini_batch_size": 2, "error_threshold": 2,
                       "retry_settings": {"max_retries": 1, "timeout": 30}})
    assert res.rc == 0, res.stderr
    assert [row.split()[0] for row in res.rows] == ["a1.txt", "a2.txt", "c1.txt"]
    summary = res.summary
    assert (summary["succeeded"], summary["failed"]) == (3, 2)
    assert summary["failed_files"] == ["b1.txt", "b2.txt"]
    # The user's traceback, with the mini-batch's files, for every attempt.
    assert res.stderr.count("ValueError: cannot score b2.txt") == 2
    assert "mini-batch 2 attempt 1/2 failed: run() raised; retrying. Files: b1.txt, b2.txt" \
        in res.stderr
    assert 'score.py", line' in res.stderr and "_batch_worker" not in res.stderr
    assert "[batch] 5/5 files done, 2 failed" in res.stdout


def test_over_the_error_threshold_fails_the_job_and_leaves_no_output(tmp_path: Path) -> None:
    inputs = {"a1.txt": "ok", "a2.txt": "ok", "b1.txt": "raise", "b2.txt": "ok",
              "c1.txt": "sleep 5"}
    root = project(tmp_path, inputs)
    res = drive(root, {"mini_batch_size": 2, "error_threshold": 1,
                       "retry_settings": {"max_retries": 0}})
    assert res.rc == 1
    assert not (res.code / "c1.txt.seen").exists()   # stopped dispatching: c1 never ran
    assert res.stderr.strip().splitlines()[-1] == \
        "[batch] 2 file(s) failed, over error_threshold 1"
    assert os.listdir(tmp_path / "output") == []
    assert res.summary["status"] == "failed"
    assert res.summary["failed"] == 2


def test_fewer_elements_than_files_count_as_failed(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.txt": "ok", "b.txt": "skip", "c.txt": "ok"})
    res = drive(root, {"mini_batch_size": 3})
    assert res.rc == 0, res.stderr
    assert len(res.rows) == 2
    summary = res.summary
    assert (summary["succeeded"], summary["failed"], summary["failed_files"]) == (2, 1, [])
    assert summary["short_mini_batches"] == [
        {"mini_batch": 1, "files": ["a.txt", "b.txt", "c.txt"], "returned": 2}]
    assert "run() returned 2 element(s) for 3 file(s); 1 count as failed" in res.stderr


def test_a_retried_mini_batch_can_succeed(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.txt": "ok", "b.txt": "flaky"})
    res = drive(root, {"mini_batch_size": 1, "retry_settings": {"max_retries": 2}})
    assert res.rc == 0, res.stderr
    assert [row.split()[:2] for row in res.rows] == [["a.txt", "ok"], ["b.txt", "flaky"]]
    assert "mini-batch 2 attempt 1/3 failed" in res.stderr
    assert "RuntimeError: first attempt at b.txt fails" in res.stderr
    assert res.summary["failed"] == 0
    assert len(res.inits()) == 1  # an exception does not replace the worker


def test_a_mini_batch_past_its_timeout_gets_a_fresh_worker(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.txt": "ok", "b.txt": "hang", "c.txt": "ok"})
    res = drive(root, {"mini_batch_size": 1, "retry_settings": {"max_retries": 1,
                                                                "timeout": 1}})
    assert res.rc == 0, res.stderr
    assert "run() did not finish within 1 s" in res.stderr
    inits = res.inits()
    assert len(inits) == 2 and inits[0] != inits[1]  # killed, replaced, init() again
    pids = [row.split()[2] for row in res.rows]
    assert [row.split()[0] for row in res.rows] == ["a.txt", "b.txt", "c.txt"]
    assert pids[0] == inits[0] and pids[1] == pids[2] == inits[1]


def test_a_worker_that_dies_is_replaced_and_its_mini_batch_retried(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.txt": "crash", "b.txt": "ok"})
    res = drive(root, {"mini_batch_size": 1, "retry_settings": {"max_retries": 1}})
    assert res.rc == 0, res.stderr
    assert "mini-batch 1 attempt 1/2 failed: worker 0 (pid" in res.stderr
    assert "exited with code 3; retrying. Files: a.txt" in res.stderr
    assert [row.split()[0] for row in res.rows] == ["a.txt", "b.txt"]
    assert len(set(res.inits())) == 2


def test_a_mini_batch_that_always_times_out_fails_its_files(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.txt": "sleep 30", "b.txt": "ok"})
    res = drive(root, {"mini_batch_size": 1, "retry_settings": {"max_retries": 0,
                                                                "timeout": 0.5}})
    assert res.rc == 0, res.stderr
    assert res.summary["failed_files"] == ["a.txt"]
    assert [row.split()[0] for row in res.rows] == ["b.txt"]


def test_two_worker_processes(tmp_path: Path) -> None:
    root = project(tmp_path, {f"f{i}.txt": "sleep 0.4" for i in range(4)})
    res = drive(root, {"mini_batch_size": 1, "max_concurrency_per_instance": 2})
    assert res.rc == 0, res.stderr
    assert [row.split()[0] for row in res.rows] == [f"f{i}.txt" for i in range(4)]
    pids = {row.split()[3] for row in res.rows}
    assert len(pids) == 2 and pids == set(res.inits())


def test_summary_only_leaves_writing_to_the_script(tmp_path: Path) -> None:
    script = """
    import os

    def run(mini_batch):
        out = os.path.join(os.environ["AZUREML_BI_OUTPUT_PATH"], "mine.txt")
        with open(out, "a") as fh:
            fh.writelines(os.path.basename(p) + "\\n" for p in mini_batch)
        return mini_batch[1:]
    """
    root = project(tmp_path, {"a.txt": "1", "b.txt": "2", "c.txt": "3"}, script)
    res = drive(root, {"output_action": "summary_only", "mini_batch_size": 3})
    assert res.rc == 0, res.stderr
    assert os.listdir(tmp_path / "output") == ["mine.txt"]
    assert (tmp_path / "output" / "mine.txt").read_text().split() == ["a.txt", "b.txt", "c.txt"]
    assert (res.summary["succeeded"], res.summary["failed"]) == (2, 1)


def test_an_empty_folder_gives_an_empty_output_file(tmp_path: Path) -> None:
    root = project(tmp_path, {".only_hidden": "x"})
    res = drive(root, {"output_file_name": "scores.csv"})
    assert res.rc == 0, res.stderr
    assert (tmp_path / "output" / "scores.csv").read_text() == ""
    assert res.summary["files"] == 0 and res.summary["mini_batches"] == 0
    assert not (tmp_path / "code" / "inits.txt").exists()  # no worker was started


def test_init_failure_fails_the_job(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.txt": "ok"}, "def init():\n    raise OSError('no model')\n"
                                              "def run(mini_batch):\n    return mini_batch\n")
    res = drive(root, {})
    assert res.rc == 1
    assert "OSError: no model" in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("[batch] init() failed in worker 0")
    assert os.listdir(tmp_path / "output") == []


@pytest.mark.parametrize("config, message", [
    ({"kind": "onnx"}, 'kind must be "script" or "mlflow"'),
    ({"mini_batch_size": 0}, "mini_batch_size must be an integer >= 1"),
    ({"retry_settings": {"timeout": "soon"}}, "timeout must be a number"),
    ({"output_file_name": "../x.csv"}, "output_file_name must be a file name"),
])
def test_bad_config_exits_2(tmp_path: Path, config: dict[str, Any], message: str) -> None:
    root = project(tmp_path, {"a.txt": "ok"})
    res = drive(root, config)
    assert res.rc == 2
    assert message in res.stderr


def test_sigterm_stops_the_workers_and_exits_143(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.txt": "sleep 30", "b.txt": "sleep 30"})
    proc = start(root, {"mini_batch_size": 1, "max_concurrency_per_instance": 2})
    inits = root / "code" / "inits.txt"
    deadline = time.monotonic() + 20
    seen = [root / "code" / "a.txt.seen", root / "code" / "b.txt.seen"]
    while not (inits.exists() and len(inits.read_text().split()) == 2
               and all(f.exists() for f in seen)):   # both run() calls are under way
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 143, stderr
    assert "stopped by signal 15" in stderr
    for pid in inits.read_text().split():
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
    assert os.listdir(root / "output") == []
    assert json.loads((root / "code/logs/batch_summary.json").read_text())["status"] == "stopped"


@pytest.fixture(scope="module")
def mlflow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sklearn_mlflow_model(tmp_path_factory.mktemp("mlflow") / "model")


def test_mlflow_model_without_code(tmp_path: Path, mlflow_model: Path) -> None:
    import pandas as pd

    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "a.csv").write_text("x1,x2\n0.0,1.0\n1.0,0.0\n")
    (folder / "b.csv").write_text("a,b\nfoo,bar\n")  # not the model's columns
    pd.DataFrame({"x1": [0.9], "x2": [0.1]}).to_parquet(folder / "c.parquet")
    (folder / "d.txt").write_text("notes")
    (tmp_path / "code").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["EMBER_BATCH_CONFIG"] = json.dumps({"kind": "mlflow", "model_path": str(mlflow_model),
                                            "mini_batch_size": 3})
    proc = subprocess.run([sys.executable, str(DRIVER), "--input", str(folder), "--output",
                           str(tmp_path / "output")], cwd=tmp_path / "code", env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / "output" / "predictions.csv").read_text().splitlines()
    assert rows == ["0,0,a.csv", "1,1,a.csv", "0,1,c.parquet"]
    summary = json.loads((tmp_path / "code/logs/batch_summary.json").read_text())
    assert (summary["succeeded"], summary["failed"]) == (2, 2)
    assert summary["failed_files"] == ["b.csv", "d.txt"]
    assert "mini-batch 1: b.csv failed: MlflowException" in proc.stderr
    assert "mini-batch 2: d.txt failed: ValueError: cannot read .txt files" in proc.stderr
