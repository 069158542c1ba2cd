"""Prompt flow (issue 12): Ember against promptflow 1.18's ``pf``, side by side in one run, on
the same flows and data.

- ``flow test`` of a Python-only flow, end to end (process start to exit), median of rounds;
- a 1000-line batch run of the same flow (``run create --stream``, submission to the end),
  median of ``--batch-rounds``;
- a 1000-line batch run of an LLM flow against the same local OpenAI-compatible server (a
  stdlib stub in this script that answers at once, so the engines are what is measured), both
  at ``PF_WORKER_COUNT`` concurrency;
- peak memory (RSS summed over each engine's processes);
- ``/score`` p50 and throughput of the served Python-only flow (``flow serve``).

promptflow runs in its own venv (``--pf-venv``, made when missing with ``pip install
'promptflow==1.18.*' promptflow-tools keyrings.alt``), offline at its best: ``pf config set
telemetry.enabled=false`` and ``trace.destination=none`` (its defaults start a trace service and
phone home). Ember runs with its defaults: a local server, the test's trace recorded.

Usage: python benchmarks/bench_flows.py [--lines 1000] [--rounds 5] [--batch-rounds 3] [--workers 8]
Writes bench-results/flows.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, free_port, machine_info, percentile, write_json  # noqa: E402

PF_VENV = Path("/tmp/pfvenv")

PYFLOW = {
    "flow.dag.yaml": """inputs:
  text:
    type: string
outputs:
  output:
    type: string
    reference: ${upper.output}
  length:
    type: int
    reference: ${greet.output.length}
nodes:
- name: greet
  type: python
  source: {type: code, path: greet.py}
  inputs: {text: "${inputs.text}"}
- name: upper
  type: python
  source: {type: code, path: upper.py}
  inputs: {greeting: "${greet.output.greeting}"}
- name: agg
  type: python
  source: {type: code, path: agg.py}
  inputs: {lengths: "${greet.output.length}"}
  aggregation: true
""",
    "greet.py": "from promptflow.core import tool\n\n\n@tool\ndef greet(text: str) -> dict:\n"
                "    return {'greeting': f'Hello {text}', 'length': len(text) + 6}\n",
    "upper.py": "from promptflow.core import tool\n\n\n@tool\ndef upper(greeting: str) -> str:\n"
                "    return greeting.upper()\n",
    "agg.py": "from promptflow.core import log_metric, tool\n\n\n@tool\n"
              "def agg(lengths: list) -> dict:\n"
              "    log_metric('mean_length', sum(lengths) / len(lengths))\n"
              "    return {'n': len(lengths)}\n",
}

LLMFLOW = {
    "flow.dag.yaml": """inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: "${chat.output}"}
nodes:
- name: chat
  type: llm
  source: {type: code, path: chat.jinja2}
  inputs:
    deployment_name: stub-model
    model: stub-model
    max_tokens: '16'
    temperature: '0'
    question: ${inputs.question}
  api: chat
  connection: bench_llm
""",
    "chat.jinja2": "# system:\nYou answer briefly.\n\n# user:\n{{question}}\n",
}

REPLY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "stub-model",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "A short answer."}}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}).encode()


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body would wait for
    # the client's delayed ACK (~40 ms a request) and the stub, not the engines, would be timed.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    def log_message(self, *args: Any) -> None:
        pass


def stub_server() -> str:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}/v1"


def write_flow(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


class PeakRss:
    """Peak of the summed RSS of the processes ``select`` picks, sampled every 20 ms."""

    def __init__(self, select: Any) -> None:
        self.select, self.peak, self._stop = select, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for proc in self.select():
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def by_cmdline(*needles: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if any(n in line for n in needles):
            found.append(proc)
    return found


def timed(cmd: list[str], env: dict[str, str], cwd: Path,
          extra: Any = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) of the command's tree plus ``extra()``, stdout."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with PeakRss(lambda: tree(proc) + (extra() if extra else [])) as rss:
        out, err = proc.communicate(timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {err.decode()[-2000:]}")
    return wall, rss.peak, out.decode()


def ensure_pf_venv() -> Path:
    if not (PF_VENV / "bin" / "pf").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PF_VENV)], check=True)
        subprocess.run([str(PF_VENV / "bin" / "pip"), "install", "-q", "promptflow==1.18.*",
                        "promptflow-tools", "keyrings.alt"], check=True)
    return PF_VENV / "bin" / "pf"


def serve_latency(url: str, n: int, concurrency: int) -> dict[str, float]:
    body = {"text": "abc"}
    with httpx.Client(timeout=60) as c:
        for _ in range(20):
            c.post(url, json=body).raise_for_status()
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            c.post(url, json=body).raise_for_status()
            lat.append(time.perf_counter() - t0)

    def worker(_: int) -> int:
        with httpx.Client(timeout=60) as c2:
            for _ in range(n // concurrency):
                c2.post(url, json=body).raise_for_status()
        return n // concurrency

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = sum(pool.map(worker, range(concurrency)))
    wall = time.perf_counter() - t0
    return {"p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "throughput_rps": round(done / wall, 1), "concurrency": concurrency}


def wait_ok(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--score-requests", type=int, default=400)
    ap.add_argument("--batch-rounds", type=int, default=3,
                    help="batch runs per engine (the median is reported)")
    args = ap.parse_args()
    pf_bin = ensure_pf_venv()
    ember_bin = [sys.executable, "-m", "ember.cli.entry"]
    work = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    pyflow = write_flow(work / "pyflow", PYFLOW)
    llmflow = write_flow(work / "llmflow", LLMFLOW)
    data = work / "data.jsonl"
    data.write_text("".join(json.dumps({"text": f"line{i}", "question": f"Question {i}?"})
                            + "\n" for i in range(args.lines)))
    base_url = stub_server()

    pf_env = {**os.environ, "HOME": str(work / "pfhome"), "PF_WORKER_COUNT": str(args.workers),
              "PATH": f"{PF_VENV / 'bin'}:{os.environ['PATH']}"}
    pf_env.pop("VIRTUAL_ENV", None)
    for key, value in (("telemetry.enabled", "false"), ("trace.destination", "none")):
        subprocess.run([str(pf_bin), "config", "set", f"{key}={value}"], env=pf_env,
                       check=True, capture_output=True)
    conn = work / "conn.yml"
    conn.write_text(f"name: bench_llm\ntype: open_ai\napi_key: sk-bench\nbase_url: {base_url}\n")
    subprocess.run([str(pf_bin), "connection", "create", "-f", str(conn)], env=pf_env,
                   check=True, capture_output=True)

    home = work / "emberhome"
    em_env = {**os.environ, "EMBER_HOME": str(home), "PF_WORKER_COUNT": str(args.workers)}
    em_env.pop("EMBER_ENDPOINT", None)
    server = subprocess.Popen([*ember_bin, "server", "start", "--home", str(home), "--port",
                               "0"], env=em_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    results: dict[str, Any] = {"machine": machine_info(), "lines": args.lines,
                               "workers": args.workers, "rounds": args.rounds}
    try:
        info = home / "server.json"
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        em_env["EMBER_ENDPOINT"] = json.loads(info.read_text())["url"]
        wait_ok(em_env["EMBER_ENDPOINT"] + "/api/v1/workspaces", server)
        subprocess.run([*ember_bin, "connection", "create", "-f", str(conn)], env=em_env,
                       check=True, capture_output=True)
        server_proc = psutil.Process(server.pid)

        # 1. flow test, end to end
        test_args = ["flow", "test", "--flow", str(pyflow), "--inputs", "text=abc"]
        pf_times, em_times = [], []
        for _ in range(args.rounds):
            pf_times.append(timed([str(pf_bin), *test_args], pf_env, work)[0])
            em_times.append(timed([*ember_bin, "pf", *test_args], em_env, work)[0])
        results["flow_test"] = {
            "pf_s": round(statistics.median(pf_times), 3),
            "ember_s": round(statistics.median(em_times), 3),
            "speedup": round(statistics.median(pf_times) / statistics.median(em_times), 1)}
        print(results["flow_test"], flush=True)

        # 2./3. batch runs
        for label, flow, mapping in (("python_batch", pyflow, "text=${data.text}"),
                                     ("llm_batch", llmflow, "question=${data.question}")):
            run_args = ["run", "create", "--flow", str(flow), "--data", str(data),
                        "--column-mapping", mapping, "--stream"]
            pf_runs, em_runs = [], []
            for _ in range(args.batch_rounds):   # alternated, so both see the same machine
                pf_runs.append(timed([str(pf_bin), *run_args], pf_env, work)[:2])
                em_runs.append(timed([*ember_bin, "pf", *run_args], em_env, work,
                                     extra=lambda: by_cmdline("ember.flows.batch"))[:2])
            pf_wall = statistics.median(w for w, _ in pf_runs)
            em_wall = statistics.median(w for w, _ in em_runs)
            pf_rss = max(r for _, r in pf_runs)
            em_rss = max(r for _, r in em_runs)
            results[label] = {
                "pf_s": round(pf_wall, 2), "ember_s": round(em_wall, 2),
                "speedup": round(pf_wall / em_wall, 1),
                "pf_lines_per_s": round(args.lines / pf_wall, 1),
                "ember_lines_per_s": round(args.lines / em_wall, 1),
                "pf_peak_rss_mb": round(pf_rss / 2**20),
                "ember_peak_rss_mb": round(em_rss / 2**20),
                "ember_server_rss_mb": round(server_proc.memory_info().rss / 2**20)}
            print(label, results[label], flush=True)

        # 4. flow serve
        serve: dict[str, Any] = {}
        for label, cmd, env in (
                ("pf", [str(pf_bin), "flow", "serve", "--source", str(pyflow),
                        "--skip-open-browser"], pf_env),
                ("ember", [*ember_bin, "pf", "flow", "serve", "--source", str(pyflow)],
                 em_env)):
            port = free_port()
            # Into a file, not a pipe nobody reads: pf's server logs every request, and a
            # full pipe stalls it (the earlier run's ReadTimeouts).
            log = open(work / f"serve-{label}.log", "wb")
            proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, cwd=work,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                wait_ok(f"http://127.0.0.1:{port}/health", proc)
                serve[label] = serve_latency(f"http://127.0.0.1:{port}/score",
                                             args.score_requests, 8)
                serve[label]["rss_mb"] = round(sum(p.memory_info().rss
                                                   for p in tree(psutil.Process(proc.pid)))
                                               / 2**20)
            finally:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=30)
                log.close()
        serve["p50_speedup"] = round(serve["pf"]["p50_ms"] / serve["ember"]["p50_ms"], 1)
        serve["throughput_ratio"] = round(serve["ember"]["throughput_rps"]
                                          / serve["pf"]["throughput_rps"], 1)
        results["serve"] = serve
        print("serve", serve, flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
        subprocess.run([str(pf_bin), "service", "stop"], env=pf_env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    write_json(RESULTS / "flows.json", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
