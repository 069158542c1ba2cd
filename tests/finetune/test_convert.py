"""GGUF → trainable Hugging Face copy (real SmolLM2 file), and PEFT LoRA → GGUF LoRA adapter."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.errors import UnsupportedError
from ember.finetune.convert import MARKER, copy_dir_for, trainable_copy
from ember.finetune.gguf_lora import export_gguf_lora
from tests.finetune.conftest import PYTHON, subprocess_env

CONVERT = ("import sys; from pathlib import Path; from ember.finetune.convert import "
           "trainable_copy; print('copy:', trainable_copy(Path(sys.argv[1]), Path(sys.argv[2])))")


def test_two_processes_convert_once(smollm_gguf: Path, smollm_cache_root: Path,
                                    tmp_path: Path) -> None:
    # The session's cache when nothing has converted into it yet (so the suite converts once);
    # a fresh one otherwise, so this test always sees two processes race for one conversion.
    root = smollm_cache_root if not any(smollm_cache_root.iterdir()) else tmp_path / "cache"
    procs = [subprocess.Popen([PYTHON, "-c", CONVERT, str(smollm_gguf), str(root)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=subprocess_env()) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count(f"converting {smollm_gguf.name} to a trainable copy…") == 1
    assert stdout.count("done in ") == 1
    copies = {line for line in stdout.splitlines() if line.startswith("copy:")}
    assert copies == {f"copy: {copy_dir_for(smollm_gguf, root)}"}
    assert [p.name for p in root.iterdir() if p.is_dir()] == [copy_dir_for(smollm_gguf, root).name]


def test_trainable_copy_is_a_float32_hf_folder(smollm_gguf: Path, smollm_copy: Path,
                                               smollm_cache_root: Path) -> None:
    names = {p.name for p in smollm_copy.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", MARKER} <= names
    config = json.loads((smollm_copy / "config.json").read_text())
    assert config["model_type"] == "llama" and config["dtype"] == "float32"
    assert "quantization_config" not in config
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm_copy)
    assert "<|im_start|>" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False)
    lines: list[str] = []
    started = time.monotonic()
    assert trainable_copy(smollm_gguf, smollm_cache_root, progress=lines.append) == smollm_copy
    assert lines == [] and time.monotonic() - started < 1


def _tiny_adapter(tiny_model: Path, folder: Path, **lora: Any) -> dict[str, Any]:
    """A LoRA on the tiny Llama with random (non-zero) A and B, saved as PEFT saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    config = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], **lora)
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(str(folder))
    return {k: v.detach().numpy().copy() for k, v in peft_model.state_dict().items()
            if "lora_" in k}


def _gguf_tensors(path: Path) -> tuple[Any, dict[str, Any]]:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    return reader, {t.name: np.array(t.data) for t in reader.tensors}


def test_gguf_lora_layout(tiny_model: Path, tmp_path: Path) -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weights = _tiny_adapter(tiny_model, tmp_path / "adapter")
    out = export_gguf_lora(tmp_path / "adapter", tiny_model, tmp_path / "adapter.gguf")
    reader, tensors = _gguf_tensors(out)
    field = reader.get_field
    assert field("general.type").contents() == "adapter"
    assert field("general.architecture").contents() == "llama"
    assert field("adapter.type").contents() == "lora"
    assert field("adapter.lora.alpha").contents() == 8.0
    kinds = ["attn_q", "attn_k", "attn_v", "attn_output"]
    assert set(tensors) == {f"blk.{i}.{k}.weight.lora_{s}" for i in range(2) for k in kinds
                            for s in "ab"}

    def peft(i: int, module: str, side: str) -> Any:
        return next(v for k, v in weights.items()
                    if f"layers.{i}.self_attn.{module}.lora_{side}." in k)

    # transformers reads llama GGUFs by undoing llama.cpp's q/k row permutation: undoing it on
    # the exported B must give PEFT's B back; A (input side) and v/o are written unchanged.
    unpermute = LlamaTensorProcessor(config={})._reverse_permute_weights
    for i in range(2):
        q_b = tensors[f"blk.{i}.attn_q.weight.lora_b"]
        k_b = tensors[f"blk.{i}.attn_k.weight.lora_b"]
        assert q_b.shape == (64, 4) and not np.array_equal(q_b, peft(i, "q_proj", "B"))
        np.testing.assert_array_equal(unpermute(q_b, 4, 4), peft(i, "q_proj", "B"))
        np.testing.assert_array_equal(unpermute(k_b, 4, 2), peft(i, "k_proj", "B"))
        np.testing.assert_array_equal(tensors[f"blk.{i}.attn_q.weight.lora_a"],
                                      peft(i, "q_proj", "A"))
        np.testing.assert_array_equal(tensors[f"blk.{i}.attn_v.weight.lora_b"],
                                      peft(i, "v_proj", "B"))


def test_gguf_lora_float16_and_rslora(tiny_model: Path, tmp_path: Path) -> None:
    _tiny_adapter(tiny_model, tmp_path / "adapter", use_rslora=True)
    out = export_gguf_lora(tmp_path / "adapter", tiny_model, tmp_path / "a.gguf", float16=True)
    reader, tensors = _gguf_tensors(out)
    assert {t.dtype for t in tensors.values()} == {np.dtype(np.float16)}
    # rsLoRA scales by alpha/sqrt(r); llama.cpp by alpha/r, so alpha is written as alpha·sqrt(r)
    assert reader.get_field("adapter.lora.alpha").contents() == pytest.approx(16.0)


def test_gguf_lora_refuses_other_architectures(tiny_model: Path, tmp_path: Path) -> None:
    _tiny_adapter(tiny_model, tmp_path / "adapter")
    base = tmp_path / "gpt2"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_head": 4}))
    with pytest.raises(UnsupportedError, match="not 'gpt2'"):
        export_gguf_lora(tmp_path / "adapter", base, tmp_path / "a.gguf")
    assert not (tmp_path / "a.gguf").exists()
