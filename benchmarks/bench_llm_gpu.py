"""LLM serving on a GPU (issue 11): Ember's transformers runtime (continuous batching) against a
plain ``model.generate`` of the same batch, on the same GPU, in one run.

Prepared for a session with an NVIDIA H200 (15 minutes of device time: the whole run must fit in
a few minutes; ``--deadline``, default 540 s, ends it, and a watchdog kills everything 30 s
later if the clean-up itself hangs). Nothing is downloaded:

- a tokenizer made here (byte-level BPE trained on synthetic words, ChatML template) and a
  Llama-shaped model with random weights, ~0.4B parameters by default (hidden 896, 24 layers,
  14 heads, 2 KV heads, intermediate 4864, vocabulary ~32k = the tokenizer's), saved in
  bfloat16 (float32 on CPU). The end-of-turn row of the output head is zeroed, so every stream
  runs to ``--max-tokens``; the tokens actually streamed are counted anyway (the usage of each
  stream, ``stream_options.include_usage``).
- baseline, in a child process that exits before Ember starts (Ember's runtime sizes its KV
  cache from the GPU's free memory): for each stream count n, ``model.generate`` of the n
  prompts as one left-padded batch, greedy, ``max_new_tokens = min_new_tokens = --max-tokens``,
  after a warm-up; tokens/s = n x max_tokens / wall (CUDA synchronised).
- Ember: a fresh server, the folder registered as a workspace model, an online deployment with
  ``runtime: transformers`` (``EMBER_LLM_MAX_SEQUENCES`` = the largest stream count, one CPU
  thread), n concurrent greedy streams of ``--max-tokens`` through the router with
  ``AsyncOpenAI``; aggregate tokens/s = streamed tokens / wall, TTFT p50/p99.

Target (issue 11): Ember >= 3x ``generate``'s tokens/s at 32 streams.

Usage (GPU):  python benchmarks/bench_llm_gpu.py [--streams 1 32 128] [--max-tokens 128]
Test on CPU:  python benchmarks/bench_llm_gpu.py --device cpu --tiny
Writes bench-results/llm_gpu.json (``--out``) and prints the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    RESULTS,
    BenchTimeout,
    _descendants,
    _spawn,
    install_deadline,
    machine_info,
    percentile,
    stop_process_group,
    write_json,
)

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
FULL = {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
        "num_key_value_heads": 2, "intermediate_size": 4864, "vocab": 32000,
        "max_position_embeddings": 2048}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "vocab": 2000,
        "max_position_embeddings": 1024}
PROMPT_WORDS = 24


# ---------------------------------------------------------------------------------------------
# the model (made in the child process)


def synthetic_words(rng: random.Random, n: int) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + list("aeiou")
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(n)]


def prompts(count: int) -> list[list[dict[str, str]]]:
    rng = random.Random(11)
    words = synthetic_words(rng, 500)
    return [[{"role": "user", "content": " ".join(rng.choice(words)
                                                   for _ in range(PROMPT_WORDS))}]
            for _ in range(count)]


def build_model(folder: Path, shape: dict[str, int], device: str) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    t0 = time.perf_counter()
    rng = random.Random(0)
    words = synthetic_words(rng, 60_000)
    text = (" ".join(rng.choice(words) for _ in range(40)) + "." for _ in range(20_000))
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(text, trainers.BpeTrainer(
        vocab_size=shape["vocab"], special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|im_start|>",
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  chat_template=CHATML)
    tok.save_pretrained(folder)
    tokenizer_s = time.perf_counter() - t0
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=shape["hidden_size"],
        intermediate_size=shape["intermediate_size"],
        num_hidden_layers=shape["num_hidden_layers"],
        num_attention_heads=shape["num_attention_heads"],
        num_key_value_heads=shape["num_key_value_heads"],
        max_position_embeddings=shape["max_position_embeddings"], tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    with torch.no_grad():   # random weights never end a turn: every stream runs to max_tokens
        model.lm_head.weight[tok.eos_token_id] = 0.0
    model.generation_config.do_sample = False
    model.save_pretrained(folder)
    return {"params": sum(p.numel() for p in model.parameters()), "vocab": len(tok),
            "dtype": str(dtype).removeprefix("torch."), "tokenizer_s": round(tokenizer_s, 1),
            "build_s": round(time.perf_counter() - t0, 1), "config": {
                k: v for k, v in shape.items() if k != "vocab"}}


def baseline_child(spec_path: Path) -> None:
    """Child process: build the model folder, then ``generate`` for each batch size."""
    spec = json.loads(spec_path.read_text())
    import torch

    torch.set_num_threads(int(spec["threads"]))
    device, folder, max_tokens = spec["device"], Path(spec["folder"]), int(spec["max_tokens"])
    out: dict[str, Any] = {"device": device}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(0)
        out["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    out["model"] = build_model(folder, spec["shape"], device)
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(folder, padding_side="left")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = LlamaForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def generate(batch: list[list[dict[str, str]]], new: int) -> tuple[float, int]:
        texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                 for m in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        sync()
        return time.perf_counter() - t0, int(ids.shape[0] * (ids.shape[1] - enc.input_ids.shape[1]))

    all_prompts = prompts(max(spec["streams"]))
    generate(all_prompts[:2], 4)   # warm-up
    points = []
    for n in spec["streams"]:
        wall, tokens = generate(all_prompts[:n], max_tokens)
        points.append({"streams": n, "tokens": tokens, "wall_s": round(wall, 3),
                       "tokens_per_s": round(tokens / wall, 2)})
        print(json.dumps({"generate": points[-1]}), file=sys.stderr, flush=True)
    out["points"] = points
    if device.startswith("cuda"):
        out["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    Path(spec["result"]).write_text(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# Ember


async def one_stream(client: Any, model: str, msgs: list[dict[str, str]], max_tokens: int,
                     t0: float) -> tuple[float, int, int]:
    """(TTFT, tokens by the usage, content chunks) of one greedy stream."""
    first, chunks, usage = 0.0, 0, None
    stream = await client.chat.completions.create(
        model=model, messages=msgs, max_tokens=max_tokens, temperature=0, stream=True,
        stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            if not first:
                first = time.perf_counter() - t0
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
    return first, usage if usage is not None else chunks, chunks


async def ember_point(base_url: str, key: str, model: str, streams: int,
                      max_tokens: int) -> dict[str, Any]:
    import openai

    msgs = prompts(streams)
    async with openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0,
                                  timeout=300) as client:
        await one_stream(client, model, msgs[0], 8, time.perf_counter())   # warm-up
        t0 = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, model, m, max_tokens, t0)
                                         for m in msgs))
    wall = time.perf_counter() - t0
    ttft = [r[0] for r in results]
    tokens = sum(r[1] for r in results)
    return {"streams": streams, "tokens": tokens, "content_chunks": sum(r[2] for r in results),
            "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 2),
            "ttft_p50_ms": round(percentile(ttft, 50) * 1000, 1),
            "ttft_p99_ms": round(percentile(ttft, 99) * 1000, 1)}


def _kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _watchdog(seconds: float) -> None:
    """If the main thread's deadline and clean-up have not ended the script ``seconds`` from
    now, kill every process under this one and exit."""
    def fire() -> None:
        print(f"watchdog: still running after {seconds:.0f}s; killing the children",
              file=sys.stderr, flush=True)
        _kill_leftovers(_descendants(os.getpid()))
        os._exit(124)
    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench_llm_transformers import ember_deployment

    shape = dict(TINY if args.tiny else FULL)
    if args.vocab:
        shape["vocab"] = args.vocab
    workdir = Path(tempfile.mkdtemp(prefix="bench-llm-gpu-"))
    folder = workdir / "model"
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                           "machine": machine_info(), "device": args.device, "tiny": args.tiny,
                           "streams": args.streams, "max_tokens": args.max_tokens}
    # 1. model + generate baseline, in a child that frees the GPU when it exits
    spec = {"device": args.device, "folder": str(folder), "max_tokens": args.max_tokens,
            "streams": args.streams, "shape": shape, "threads": args.threads,
            "result": str(workdir / "baseline.json")}
    (workdir / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.device == "cpu":
        env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=str(args.threads))
    t0 = time.monotonic()
    child = _spawn([sys.executable, __file__, "--_baseline", str(workdir / "spec.json")],
                   workdir / "baseline.log", env=env)
    try:
        child.wait(timeout=args.baseline_timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop_process_group(child, grace=5)
    log_tail = (workdir / "baseline.log").read_text(errors="replace")[-3000:]
    if not (workdir / "baseline.json").exists():
        raise RuntimeError(f"baseline failed (exit {child.returncode}):\n{log_tail}")
    baseline = json.loads((workdir / "baseline.json").read_text())
    out["baseline_s"] = round(time.monotonic() - t0, 1)
    out["gpu"] = baseline.get("gpu", "none (cpu)")
    out["model"] = baseline["model"]
    out["generate"] = {p["streams"]: p for p in baseline["points"]}
    # 2. Ember
    t0 = time.monotonic()
    extra_env = {"CUDA_VISIBLE_DEVICES": ""} if args.device == "cpu" else {}
    worker_pids: list[int] = []
    try:
        with ember_deployment(folder, threads=args.threads,
                              max_sequences=max(args.streams),
                              max_concurrent=max(32, max(args.streams)),
                              load_timeout=args.load_timeout, extra_env=extra_env,
                              name="random-llama") as s:
            worker_pids.append(s.pid)
            out["ember_load_s"] = s.load_s
            out["ember"] = {}
            for n in args.streams:
                r = asyncio.run(ember_point(s.base_url, s.key, s.model, n, args.max_tokens))
                out["ember"][n] = r
                print(json.dumps({"ember": r}), file=sys.stderr, flush=True)
    finally:
        _kill_leftovers([p for p in worker_pids if Path(f"/proc/{p}").exists()])
    out["ember_s"] = round(time.monotonic() - t0, 1)
    out["ratio_ember_vs_generate"] = {
        n: round(out["ember"][n]["tokens_per_s"] / out["generate"][n]["tokens_per_s"], 3)
        for n in args.streams}
    if 32 in args.streams:
        ratio = out["ratio_ember_vs_generate"][32]
        out["target_32_streams"] = {"ratio": ratio, "target": 3.0, "met": ratio >= 3.0}
    return out


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--_baseline":
        baseline_child(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--tiny", action="store_true",
                        help="a 2-layer, 64-wide model and small counts: tests the script")
    parser.add_argument("--streams", type=int, nargs="+")
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--vocab", type=int, help="tokenizer/model vocabulary (default 32000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--deadline", type=int, default=540, help="seconds for the whole run")
    parser.add_argument("--baseline-timeout", type=int, default=240)
    parser.add_argument("--load-timeout", type=int, default=240)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.streams is None:
        args.streams = [1, 4, 8] if args.tiny else [1, 32, 128]
    if args.max_tokens is None:
        args.max_tokens = 16 if args.tiny else 128
    if args.out is None:
        args.out = RESULTS / ("llm_gpu_tiny.json" if args.tiny else "llm_gpu.json")
    install_deadline(args.deadline)
    _watchdog(args.deadline + 30)
    try:
        result = run(args)
    except BenchTimeout as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    finally:
        signal.alarm(0)
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
