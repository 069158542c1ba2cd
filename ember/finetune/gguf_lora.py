"""Write a PEFT LoRA adapter as a GGUF LoRA adapter, so llama.cpp serves the fine-tuned model.

Ember serves GGUF models with llama.cpp, which applies a LoRA adapter file at load time
(``Llama(model_path=…, lora_path=…)``). Such a file is a GGUF with ``general.type = "adapter"``,
``adapter.type = "lora"``, ``adapter.lora.alpha`` and, per adapted weight ``W``, the two tensors
``<W's GGUF name>.lora_a`` and ``.lora_b`` (e.g. ``blk.3.attn_q.weight.lora_a``).

Shapes: llama.cpp computes ``W·x + scale·B·(A·x)`` with ``scale = alpha / rank`` and checks, in
its dimension order (innermost first), ``W = [in, out]``, ``A = [in, r]``, ``B = [r, out]``. PEFT
stores ``lora_A.weight`` as ``(r, in)`` and ``lora_B.weight`` as ``(out, r)`` row-major arrays,
which are exactly those GGUF shapes, so they are written as they are.

Llama-family GGUF files store the query and key projections with their rows permuted (the
rotary-embedding layout llama.cpp uses; transformers undoes it when it reads a GGUF). The rows of
``B·A`` are the rows of ``B``, so the same permutation is applied to ``B`` of ``q``/``k``
(``A`` acts on the input side and is unchanged).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError, UnsupportedError
from ember.finetune._deps import require

# Hugging Face module → llama.cpp tensor name within block i.
_TENSOR_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
# Architectures whose GGUF names follow the table above; True: q/k rows are permuted.
_ARCHITECTURES = {"llama": True, "mistral": True, "qwen2": False, "qwen3": False}
_PEFT_KEY = re.compile(
    r"^(?:base_model\.model\.)?model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$")


def export_gguf_lora(adapter_dir: Path, base_gguf_or_hf: Path, out_path: Path, *,
                     float16: bool = False) -> Path:
    """Write ``adapter_dir`` (PEFT ``save_pretrained``) to ``out_path`` as a GGUF LoRA for the
    base model ``base_gguf_or_hf`` (its .gguf file, or the Hugging Face folder it came from)."""
    np = require("numpy")
    gguf = require("gguf")
    safetensors_numpy = require("safetensors.numpy")
    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    arch, n_head, n_head_kv = _base_shape(Path(base_gguf_or_hf))
    if arch not in _ARCHITECTURES:
        raise UnsupportedError(f"exporting a LoRA adapter to GGUF supports the "
                               f"{', '.join(_ARCHITECTURES)} architectures, not '{arch}'")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise UnsupportedError("a LoRA adapter with per-module ranks or alphas cannot be "
                               "written as one GGUF adapter (it has one alpha)")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    if config.get("use_rslora"):
        alpha *= math.sqrt(rank)     # rsLoRA scales by alpha/sqrt(r); llama.cpp by alpha/r
    weights = safetensors_numpy.load_file(str(adapter_dir / "adapter_model.safetensors"))
    tensors: dict[str, Any] = {}
    for key, value in weights.items():
        match = _PEFT_KEY.match(key)
        if not match or match.group(2) not in _TENSOR_NAMES:
            raise UnsupportedError(f"adapter tensor {key} has no llama.cpp counterpart")
        block, module, side = match.groups()
        array = value.astype(np.float32)
        if side == "B" and _ARCHITECTURES[arch] and module in ("self_attn.q_proj",
                                                                "self_attn.k_proj"):
            heads = n_head if module == "self_attn.q_proj" else n_head_kv
            array = _permute_rows(array, heads)
        name = f"blk.{block}.{_TENSOR_NAMES[module]}.weight.lora_{side.lower()}"
        tensors[name] = np.ascontiguousarray(array.astype(np.float16 if float16 else np.float32))
    if not tensors:
        raise InvalidInputError(f"{adapter_dir} holds no LoRA tensors")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out_path), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name in sorted(tensors, key=_block_order):
        writer.add_tensor(name, tensors[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def _permute_rows(array: Any, heads: int) -> Any:
    """Hugging Face's rotary layout → llama.cpp's: within each head, the two halves of the rows
    are interleaved."""
    rows = array.shape[0]
    return (array.reshape(heads, 2, rows // heads // 2, *array.shape[1:])
            .swapaxes(1, 2).reshape(array.shape))


def _base_shape(base: Path) -> tuple[str, int, int]:
    """(architecture, attention heads, key/value heads) of the base model."""
    if base.is_file() and base.suffix.lower() == ".gguf":
        gguf = require("gguf")
        reader = gguf.GGUFReader(str(base))

        def scalar(key: str) -> Any:
            field = reader.get_field(key)
            if field is None:
                raise InvalidInputError(f"{base.name} has no {key}")
            return field.contents()

        arch = str(scalar("general.architecture"))
        heads = int(scalar(f"{arch}.attention.head_count"))
        kv_field = reader.get_field(f"{arch}.attention.head_count_kv")
        return arch, heads, int(kv_field.contents()) if kv_field is not None else heads
    config_path = base / "config.json"
    if not config_path.is_file():
        raise InvalidInputError(f"base model {base} is neither a .gguf file nor a Hugging Face "
                                f"folder")
    config = json.loads(config_path.read_text())
    heads = int(config.get("num_attention_heads", 0))
    return str(config.get("model_type")), heads, int(config.get("num_key_value_heads") or heads)


def _block_order(name: str) -> tuple[int, str]:
    return int(name.split(".")[1]), name
