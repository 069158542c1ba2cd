"""What Azure ML's ``model_prediction`` component does, in the job's own process: read the test
rows, turn them into model inputs, predict in batches.

Two kinds of model, as in Azure:

- language-model tasks (text generation, chat completion, question answering, summarization,
  translation): a Hugging Face causal-LM folder, or a PEFT adapter folder whose
  ``adapter_config.json`` names its base folder (base + ``PeftModel``, not merged, so the adapter
  is evaluated exactly as it will be served). MLflow ``transformers`` folders are found by their
  ``model/`` or ``data/model/`` subfolder. Decoding is greedy, batched with left padding, so that
  every row's new tokens start at the same column and one ``generate`` call serves the batch.
- tabular tasks: an MLflow model folder loaded with ``mlflow.pyfunc``; where the flavor exposes a
  ``predict_proba`` (scikit-learn), the class probabilities too, for AUC and log loss.

The table helpers (``read_rows``, ``write_jsonl``) live here because both components read the
same files: JSON Lines, a JSON list of objects, or CSV; a folder input holds exactly one of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError

LANGUAGE_TASKS = ("text-generation", "chat-completion", "question-answering",
                  "text-summarization", "text-translation")
TABULAR_TASKS = ("tabular-classification", "tabular-regression", "text-classification",
                 "tabular-classification-multilabel", "text-classification-multilabel")
_DATA_SUFFIXES = (".jsonl", ".json", ".csv")


# --- files --------------------------------------------------------------------------------

def data_file(path: str | Path) -> Path:
    """``path`` itself, or the one data file in the folder ``path``."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in _DATA_SUFFIXES)
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise InvalidInputError(f"{path} must hold exactly one .jsonl, .json or .csv file "
                                    f"(found: {names})")
        return found[0]
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist")
    return path


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSON Lines, JSON (a list of objects) or CSV file, or of a folder's one."""
    file = data_file(path)
    suffix = file.suffix.lower()
    try:
        if suffix == ".csv":
            import pandas as pd

            # Through JSON so that values are Python's (numbers typed, missing → None).
            rows = json.loads(pd.read_csv(file).to_json(orient="records"))
        elif suffix == ".json":
            rows = json.loads(file.read_text(encoding="utf-8"))
        else:
            with file.open(encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh if line.strip()]
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{file} is not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise InvalidInputError(f"{file}: expected one JSON object per row")
    if not rows:
        raise InvalidInputError(f"{file} has no rows")
    return rows


def column(rows: Sequence[dict[str, Any]], name: str, file: str | Path) -> list[Any]:
    """Every row's ``name``; an error naming the columns there are if it is missing."""
    if name not in rows[0]:
        raise InvalidInputError(f"{file} has no column {name!r} (columns: "
                                f"{', '.join(map(str, rows[0]))})")
    return [row.get(name) for row in rows]


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# --- inputs -------------------------------------------------------------------------------

def language_inputs(task: str, rows: Sequence[dict[str, Any]], input_columns: list[str],
                    label: str) -> tuple[list[Any], list[Any]]:
    """(prompts, ground truths). A prompt is text, or for chat completion a message list; a chat
    whose last message is the assistant's has that message as its ground truth when the rows
    have no ``label`` column."""
    prompts: list[Any] = []
    truths: list[Any] = []
    for i, row in enumerate(rows):
        missing = [c for c in input_columns if c not in row]
        if missing:
            raise InvalidInputError(f"row {i} has no column {missing[0]!r} (columns: "
                                    f"{', '.join(map(str, row))})")
        truth = row.get(label)
        if task == "chat-completion":
            messages = row[input_columns[0]]
            if isinstance(messages, str):
                messages = json.loads(messages)
            if not isinstance(messages, list) or not messages or not all(
                    isinstance(m, dict) and "role" in m and "content" in m for m in messages):
                raise InvalidInputError(f"row {i}: {input_columns[0]!r} must be a list of "
                                        "{role, content} messages")
            if messages[-1]["role"] == "assistant":
                if label not in row:
                    truth = messages[-1]["content"]
                messages = messages[:-1]
            prompts.append(messages)
        else:
            prompts.append("\n".join(str(row[c]) for c in input_columns))
        if truth is None and label not in row:
            raise InvalidInputError(f"row {i} has no label column {label!r} (columns: "
                                    f"{', '.join(map(str, row))})")
        truths.append(truth)
    return prompts, truths


# --- language models ----------------------------------------------------------------------

@dataclass
class Batch:
    """One ``generate`` call: what the performance metadata records."""

    index: int
    rows: int
    start: datetime
    seconds: float
    input_tokens: int
    output_tokens: int


@dataclass
class LanguageModel:
    model: Any
    tokenizer: Any
    device: str
    stop_ids: set[int] = field(default_factory=set)


def _hf_folder(folder: Path) -> Path:
    for candidate in (folder, folder / "model", folder / "data" / "model"):
        if (candidate / "config.json").is_file() or (candidate / "adapter_config.json").is_file():
            return candidate
    raise InvalidInputError(f"{folder} is not a Hugging Face model folder: no config.json or "
                            "adapter_config.json in it, nor in model/ or data/model/")


def _tokenizer_folder(*folders: Path) -> Path:
    for folder in folders:
        # MLflow's transformers flavor keeps it in components/tokenizer beside model/; Azure's
        # older folders in data/tokenizer beside data/model.
        for candidate in (folder, folder.parent / "components" / "tokenizer",
                          folder.parent / "tokenizer"):
            if (candidate / "tokenizer_config.json").is_file():
                return candidate
    raise InvalidInputError(f"no tokenizer (tokenizer_config.json) in {folders[0]}")


def load_language_model(folder: str | Path, device: str = "cpu") -> LanguageModel:
    """A causal LM, or base + PEFT adapter, in eval mode on ``device`` ("cpu" or "cuda")."""
    from ember.finetune._deps import require

    torch = require("torch")
    transformers = require("transformers")
    transformers.utils.logging.disable_progress_bar()   # a job's log is no terminal
    root = _hf_folder(Path(folder))
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    adapter = root / "adapter_config.json"
    if adapter.is_file():
        base_name = str(json.loads(adapter.read_text()).get("base_model_name_or_path") or "")
        base = Path(base_name) if Path(base_name).is_absolute() else root / base_name
        if not base_name or not base.is_dir():
            raise InvalidInputError(f"the adapter in {root} names its base model {base_name!r}, "
                                    "which is not a folder here (adapter_config.json's "
                                    "base_model_name_or_path)")
        base = _hf_folder(base)
        tokenizer_dir = _tokenizer_folder(root, base)
    else:
        base, tokenizer_dir = root, _tokenizer_folder(root)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype)
        if base != root:
            model = require("peft").PeftModel.from_pretrained(model, str(root))
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    except (OSError, ValueError) as exc:   # a broken or foreign folder: say which
        raise InvalidInputError(f"cannot load the language model in {root}: "
                                f"{str(exc).splitlines()[0]}") from None
    tokenizer.padding_side = "left"    # new tokens start at one column for the whole batch
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stop: set[int] = set()
    for ids in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        stop.update([ids] if isinstance(ids, int) else list(ids or []))
    return LanguageModel(model.to(device).eval(), tokenizer, device, stop)


def generate(lm: LanguageModel, prompts: Sequence[Any], *, batch_size: int = 8,
             max_new_tokens: int = 64) -> Iterator[tuple[list[str], Batch]]:
    """Greedy completions, batch by batch; chat prompts go through the tokenizer's template."""
    import torch
    from transformers import GenerationConfig

    tok = lm.tokenizer
    chat = bool(prompts) and isinstance(prompts[0], list)
    if chat and not tok.chat_template:
        raise InvalidInputError("chat-completion needs a chat template, and this model's "
                                "tokenizer has none (tokenizer_config.json chat_template)")
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens,
                              pad_token_id=tok.pad_token_id, eos_token_id=sorted(lm.stop_ids))
    for index, start in enumerate(range(0, len(prompts), batch_size)):
        chunk = prompts[start:start + batch_size]
        texts = ([tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                  for m in chunk] if chat else list(chunk))
        # A rendered template already has its special tokens.
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not chat)
        began, clock = datetime.now(UTC), time.perf_counter()
        with torch.inference_mode():
            out = lm.model.generate(**enc.to(lm.device), generation_config=config)
        seconds = time.perf_counter() - clock
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        lengths = [next((j for j, t in enumerate(ids) if t in lm.stop_ids), len(ids))
                   for ids in new]
        answers = tok.batch_decode([ids[:n] for ids, n in zip(new, lengths)],
                                   skip_special_tokens=True)
        yield [a.strip() for a in answers], Batch(
            index, len(chunk), began, seconds, int(enc["attention_mask"].sum()), sum(lengths))


# --- tabular models -----------------------------------------------------------------------

def predict_tabular(folder: str | Path, rows: Sequence[dict[str, Any]], input_columns: list[str],
                    on_batch: Callable[[int], None] | None = None,
                    ) -> tuple[list[Any], list[dict[str, float]] | None]:
    """(predictions, probabilities per class label or None) of an MLflow pyfunc model."""
    from ember.finetune._deps import require

    pyfunc = require("mlflow.pyfunc")
    pd = require("pandas")
    if not (Path(folder) / "MLmodel").is_file():
        raise InvalidInputError(f"{folder} is not an MLflow model folder (no MLmodel file)")
    model = pyfunc.load_model(str(folder))
    frame = pd.DataFrame([{c: row.get(c) for c in input_columns} for row in rows],
                         columns=input_columns)
    raw = model.predict(frame)
    if hasattr(raw, "iloc") and getattr(raw, "ndim", 1) == 2:     # a DataFrame: first column
        raw = raw.iloc[:, 0]
    predictions = json.loads(pd.Series(list(raw)).to_json(orient="values"))
    if on_batch is not None:
        on_batch(len(rows))
    try:
        inner = model.get_raw_model()
    except (NotImplementedError, AttributeError):
        return predictions, None
    if not (hasattr(inner, "predict_proba") and hasattr(inner, "classes_")):
        return predictions, None
    matrix = inner.predict_proba(frame)
    labels = [str(int(c)) if isinstance(c, float) and c.is_integer() else str(c)
              for c in json.loads(pd.Series(list(inner.classes_)).to_json(orient="values"))]
    return predictions, [dict(zip(labels, map(float, row))) for row in matrix]
