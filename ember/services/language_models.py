"""Language models: what a model's files say about it (GGUF file or Hugging Face folder).

``inspect_model_files`` reads a model version's local files and answers whether they are a
language model, and its card: the facts a deployment needs (format, runtime, context length,
task) and the ones the catalog shows (parameters, quantisation, fine-tunable, adapter base).
``card`` turns that into the tags and properties Azure's catalog cards carry.

Only headers and small JSON files are read (a GGUF header through a memory map, the JSON header
of ``.safetensors`` files): no weights are loaded and no ML library is imported, so inspecting
a 100 MB model takes milliseconds.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.services._gguf import FILE_TYPES, MAGIC, GgufHeader, read_gguf_header

RUNTIME_LLAMA_CPP = "llama.cpp"
RUNTIME_TRANSFORMERS = "transformers"
RUNTIMES = (RUNTIME_LLAMA_CPP, RUNTIME_TRANSFORMERS)
TASK_CHAT = "chat-completion"
TASK_TEXT = "text-generation"
TASK_EMBEDDINGS = "embeddings"

FORMAT_GGUF = "gguf"
FORMAT_HF = "hf"
FORMAT_ADAPTER = "peft-adapter"

MAX_JSON_BYTES = 16 << 20           # config.json, tokenizer_config.json (chat templates) ...
MAX_SAFETENSORS_HEADER = 100 << 20  # the format's own limit

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
_SEQ2SEQ_SUFFIX = "ForConditionalGeneration"
# GGUF architectures of encoder (embedding) models, besides those declaring <arch>.pooling_type
_GGUF_ENCODERS = {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3",
                  "modern-bert", "neo-bert", "t5encoder"}
# Decoder architectures whose GGUF files transformers reads (de-quantised to float32): such a
# model can also be served by the transformers runtime, and fine-tuned, through its trainable
# copy (ember/finetune/convert.py), made once on first use.
_GGUF_TRANSFORMERS = {"llama", "mistral", "qwen2", "qwen2moe", "qwen3", "phi3", "gemma2",
                      "gemma3", "gpt2", "falcon", "stablelm", "starcoder2", "nemotron"}
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_SIZE_LABEL = re.compile(r"^(?:(\d+)x)?(\d+(?:\.\d+)?)([KMBT])$", re.IGNORECASE)
_SCALE = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


@dataclass(frozen=True)
class LanguageModelInfo:
    format: str                     # "gguf" | "hf" | "peft-adapter"
    path: Path                      # the GGUF file, or the folder (model or adapter)
    task: str                       # TASK_CHAT | TASK_TEXT | TASK_EMBEDDINGS
    runtimes: tuple[str, ...]       # the runtimes that can serve it; the first is the default
    context_length: int             # tokens (prompt + completion) one request may hold;
    #                                 0 when the files do not say (an adapter: its base's)
    architecture: str | None = None
    parameters: int | None = None
    quantization: str | None = None  # e.g. "Q4_1"; None for float weights
    fine_tunable: bool = False
    base_model: str | None = None   # an adapter's base (a model reference), else None
    license: str | None = None      # SPDX id as the files state it (GGUF, model card)
    author: str | None = None       # the organisation or author the files name
    display_name: str | None = None  # the model's own name for itself (GGUF general.name)


def inspect_model_files(path: Path) -> LanguageModelInfo | None:
    """The card of the language model at ``path`` (a ``.gguf`` file, a folder holding one, a
    Hugging Face folder, or a PEFT adapter folder), or None when the files are not one.
    Raises ``InvalidInputError`` naming the file when they claim to be one but are broken."""
    path = Path(path)
    if path.is_file():
        return _gguf(path) if _looks_gguf(path) else None
    if not path.is_dir():
        return None
    if (path / "adapter_config.json").is_file():
        return _adapter(path)
    if (path / "config.json").is_file():
        return _hf(path)
    gguf = _gguf_in_folder(path)
    return _gguf(gguf) if gguf is not None else None


# --- GGUF ---------------------------------------------------------------------------------

def _looks_gguf(path: Path) -> bool:
    if path.suffix.lower() == ".gguf":
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(4) == MAGIC
    except OSError:
        return False


def _gguf_in_folder(folder: Path) -> Path | None:
    """The one GGUF model in ``folder`` (the first part of a split model), or None."""
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    models = [p for p in found if not (m := _SPLIT.search(p.name)) or int(m[1]) == 1]
    if len(models) > 1:
        names = ", ".join(p.name for p in models[:5])
        raise InvalidInputError(f"{folder}: holds {len(models)} GGUF models ({names}); a "
                                "language model is one GGUF file: register one of them")
    return models[0] if models else None


def _gguf(path: Path) -> LanguageModelInfo:
    header = read_gguf_header(path)
    meta = header.metadata
    arch = _text(meta.get("general.architecture"))
    context = meta.get(f"{arch}.context_length") if arch else None
    if arch in _GGUF_ENCODERS or (arch and f"{arch}.pooling_type" in meta):
        task = TASK_EMBEDDINGS
    elif "tokenizer.chat_template" in meta or any(
            k.startswith("tokenizer.chat_template.") for k in meta):
        task = TASK_CHAT
    else:
        task = TASK_TEXT
    file_type = meta.get("general.file_type")
    quantization = FILE_TYPES.get(file_type) if isinstance(file_type, int) else None
    convertible = task != TASK_EMBEDDINGS and arch in _GGUF_TRANSFORMERS
    return LanguageModelInfo(
        format=FORMAT_GGUF, path=path, task=task,
        runtimes=(RUNTIME_LLAMA_CPP, RUNTIME_TRANSFORMERS) if convertible
        else (RUNTIME_LLAMA_CPP,),
        context_length=context if isinstance(context, int) and context > 0 else 0,
        architecture=arch, parameters=_gguf_parameters(header), quantization=quantization,
        fine_tunable=convertible, license=_text(meta.get("general.license")),
        author=_text(meta.get("general.organization")) or _text(meta.get("general.author")),
        display_name=_text(meta.get("general.name")))


def _gguf_parameters(header: GgufHeader) -> int | None:
    if header.parameters:
        return header.parameters
    return parse_size_label(_text(header.metadata.get("general.size_label")))


def parse_size_label(label: str | None) -> int | None:
    """``135M`` → 135,000,000; ``8x7B`` → 56e9; None for anything else."""
    m = _SIZE_LABEL.match(label.strip()) if label else None
    if m is None:
        return None
    experts = int(m[1]) if m[1] else 1
    return int(experts * float(m[2]) * _SCALE[m[3].upper()])


# --- Hugging Face folders -------------------------------------------------------------------

def _hf(folder: Path) -> LanguageModelInfo | None:
    config = _json_object(folder / "config.json")
    weights = _weights(folder)
    tokenizer = any((folder / f).is_file() for f in _TOKENIZER_FILES)
    if not weights or not tokenizer:
        return None   # a configuration without weights, or a model without text (vision...)
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    model_type = _text(config.get("model_type"))
    causal = any(a.endswith(_CAUSAL_SUFFIXES) for a in archs)
    seq2seq = any(a.endswith(_SEQ2SEQ_SUFFIX) for a in archs)
    if (folder / "modules.json").is_file() or (
            archs and not causal and not seq2seq and all(a.endswith("Model") for a in archs)):
        task = TASK_EMBEDDINGS
    elif causal or seq2seq:
        task = TASK_CHAT if _has_chat_template(folder) else TASK_TEXT
    else:
        return None   # a classifier, a masked LM, ...: not served as chat, text or embeddings
    card = _model_card(folder)
    return LanguageModelInfo(
        format=FORMAT_HF, path=folder, task=task, runtimes=(RUNTIME_TRANSFORMERS,),
        context_length=_hf_context(folder, config, task),
        architecture=archs[0] if archs else model_type,
        parameters=_safetensors_parameters(weights), quantization=_hf_quantization(config),
        fine_tunable=causal, license=card.get("license"))


def _weights(folder: Path) -> list[Path]:
    found = sorted(folder.glob("*.safetensors"))
    return found or sorted(folder.glob("pytorch_model*.bin"))


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    tokenizer_config = folder / "tokenizer_config.json"
    return tokenizer_config.is_file() and bool(
        _json_object(tokenizer_config).get("chat_template"))


def _hf_context(folder: Path, config: dict[str, Any], task: str) -> int:
    # sentence-transformers truncates at its max_seq_length (256 for all-MiniLM-L6-v2, whose
    # positions go to 512): the length the model was trained for
    st_config = folder / "sentence_bert_config.json"
    if task == TASK_EMBEDDINGS and st_config.is_file():
        value = _json_object(st_config).get("max_seq_length")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    for section in (config, config.get("text_config")):
        if not isinstance(section, dict):
            continue
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length",
                    "seq_length", "n_ctx"):
            value = section.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return 0


def _hf_quantization(config: dict[str, Any]) -> str | None:
    q = config.get("quantization_config")
    if not isinstance(q, dict):
        return None
    method = _text(q.get("quant_method")) or "quantized"
    bits = q.get("bits") or (4 if q.get("load_in_4bit") else 8 if q.get("load_in_8bit")
                             else None)
    return f"{method}-{bits}bit" if isinstance(bits, int) else method


def _model_card(folder: Path) -> dict[str, str]:
    """``license`` (and other scalar keys) of the YAML front matter of ``README.md``."""
    readme = folder / "README.md"
    try:
        with readme.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(64 << 10)
    except OSError:
        return {}
    if not head.startswith("---"):
        return {}
    front = head[3:].split("\n---", 1)[0]
    out: dict[str, str] = {}
    for line in front.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith((" ", "-", "#")) and value.strip():
            out[key.strip()] = value.strip().strip("'\"")
    return out


def _safetensors_parameters(files: list[Path]) -> int | None:
    """Elements of every tensor in the ``.safetensors`` files (their JSON headers only), or
    None when one is not readable (the weights are the runtime's business, not the card's)."""
    total = 0
    for file in files:
        if file.suffix != ".safetensors":
            return None
        try:
            with file.open("rb") as fh:
                raw = fh.read(8)
                if len(raw) < 8:
                    return None
                (n,) = struct.unpack("<Q", raw)
                if n > MAX_SAFETENSORS_HEADER:
                    return None
                header = json.loads(fh.read(n))
        except (OSError, ValueError):
            return None
        if not isinstance(header, dict):
            return None
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            shape = tensor.get("shape") if isinstance(tensor, dict) else None
            if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
                return None
            elements = 1
            for d in shape:
                elements *= d
            total += elements
    return total or None


# --- PEFT adapters --------------------------------------------------------------------------

_ADAPTER_TASKS = {"CAUSAL_LM": TASK_TEXT, "SEQ_2_SEQ_LM": TASK_TEXT,
                  "FEATURE_EXTRACTION": TASK_EMBEDDINGS}


def _adapter(folder: Path) -> LanguageModelInfo | None:
    config = _json_object(folder / "adapter_config.json")
    weights = [p for p in (folder / "adapter_model.safetensors", folder / "adapter_model.bin")
               if p.is_file()]
    if not weights:
        raise InvalidInputError(f"{folder / 'adapter_config.json'}: a PEFT adapter folder needs "
                                "adapter_model.safetensors (or adapter_model.bin) beside it")
    task_type = _text(config.get("task_type")) or "CAUSAL_LM"
    task = _ADAPTER_TASKS.get(task_type.upper())
    if task is None:
        return None   # a classification adapter: not served as chat, text or embeddings
    if task == TASK_TEXT and _has_chat_template(folder):
        task = TASK_CHAT
    return LanguageModelInfo(
        format=FORMAT_ADAPTER, path=folder, task=task, runtimes=(RUNTIME_TRANSFORMERS,),
        context_length=0, architecture=_text(config.get("peft_type")),
        parameters=_safetensors_parameters(weights), fine_tunable=task != TASK_EMBEDDINGS,
        base_model=_text(config.get("base_model_name_or_path")),
        license=_model_card(folder).get("license"))


# --- the card ------------------------------------------------------------------------------

def card(info: LanguageModelInfo, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The tags and properties of Azure's catalog cards for ``info`` (model ``name``):
    ``task``, ``license``, ``author``, ``displayName``, ``summary``, ``textContextWindow``,
    ``inference_supported_envs``, ``quantization``, ``parameters``, ``fine-tunable`` (and an
    adapter's ``base_model``); property ``finetuning-tasks`` when fine-tunable. Facts the
    files do not give are left out."""
    display = info.display_name or name
    tags = {"task": info.task, "displayName": display,
            "inference_supported_envs": ",".join(info.runtimes),
            "fine-tunable": "true" if info.fine_tunable else "false"}
    optional = {"license": info.license, "author": info.author,
                "quantization": info.quantization, "base_model": info.base_model,
                "textContextWindow": str(info.context_length) if info.context_length else None,
                "parameters": human_count(info.parameters) if info.parameters else None}
    tags.update({k: v for k, v in optional.items() if v})
    tags["summary"] = summary(info, display)
    properties = {"finetuning-tasks": info.task} if info.fine_tunable else {}
    return tags, properties


def summary(info: LanguageModelInfo, display: str) -> str:
    what = {FORMAT_GGUF: "GGUF model", FORMAT_HF: "Hugging Face model",
            FORMAT_ADAPTER: "PEFT adapter"}[info.format]
    facts = [f for f in (human_count(info.parameters) + " parameters" if info.parameters
                         else "", info.quantization or "",
                         f"{info.context_length} tokens of context" if info.context_length
                         else "") if f]
    detail = f" ({', '.join(facts)})" if facts else ""
    return f"{display}: {info.task} {what}{detail}, served with {info.runtimes[0]}"


def human_count(n: int | None) -> str:
    """134,515,008 → ``135M``; 22,713,216 → ``23M``; 1,100,000,000 → ``1.1B``."""
    if not n:
        return ""
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}".replace(".0", "") if value < 10 else \
                f"{round(value)}{unit}"
    return str(n)


# --- helpers --------------------------------------------------------------------------------

def _json_object(path: Path) -> dict[str, Any]:
    """A JSON object file; InvalidInputError naming it when it is not one."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise InvalidInputError(f"{path}: over {MAX_JSON_BYTES >> 20} MiB; not a "
                                    "configuration file")
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except ValueError as exc:   # JSONDecodeError, UnicodeDecodeError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{path}: not valid JSON: {reason}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: not a JSON object (it holds a "
                                f"{type(data).__name__})")
    return data


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
