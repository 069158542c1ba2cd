"""Read and check a fine-tuning job's data before any model is loaded.

A fine-tuning job may wait minutes for a model to load; a typo on line 5 of the data must fail in
a second, naming the file, the line and what is wrong there ("train.jsonl line 5: not valid JSON:
…"). So the files are read and every line checked here first, with the standard library only.

Formats (as Azure ML's fine-tuning pipelines take them): ``.jsonl`` (one JSON object a line; blank
lines skipped), ``.json`` (a JSON list of objects, or JSON lines), ``.csv`` / ``.tsv`` (a header
row; a chat file's ``messages`` column holds the JSON list).

Tasks:

* ``chat_completion``: ``{"messages": [{"role": "system"|"user"|"assistant", "content": str},
  …]}`` with at least one assistant turn; the loss is computed on the assistant turns only.
* ``text_completion``: ``{"text": prompt, "ground_truth": completion}`` (the keys are set by the
  ``text_key`` / ``ground_truth_key`` hyperparameters); the loss is on the completion only.

Keys other than these are ignored. Without a validation file, 10 % of the training lines (at least
one when there are two or more) are split off at random, seeded by the job's ``seed``: Azure's
pipelines split 80/10/10 train/validation/test, and a training job has no use for the test share.
Tokenisation and the loss masks are in :mod:`ember.finetune._tokenize`.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError

TASKS = ("chat_completion", "text_completion")
ROLES = ("system", "user", "assistant")
VALIDATION_SHARE = 0.1


@dataclass(frozen=True)
class Example:
    """One checked line: chat ``messages``, or a ``prompt`` and its ``completion``."""

    where: str                                   # "train.jsonl line 5", for error messages
    messages: tuple[dict[str, str], ...] = ()
    prompt: str = ""
    completion: str = ""


def read_examples(path: Path, task: str, *, text_key: str = "text",
                  ground_truth_key: str = "ground_truth") -> list[Example]:
    """Every example in ``path``, checked for ``task``; raises :class:`InvalidInputError` naming
    the file and line of the first problem."""
    path = Path(path)
    if task not in TASKS:
        raise InvalidInputError(f"task '{task}' is not supported; use one of {', '.join(TASKS)}")
    if not path.is_file():
        raise InvalidInputError(f"data file {path} does not exist")
    examples = []
    for where, record in _records(path):
        if task == "chat_completion":
            examples.append(_chat_example(where, record))
        else:
            examples.append(_text_example(where, record, text_key, ground_truth_key))
    if not examples:
        raise InvalidInputError(f"{path.name} is empty: it has no examples to train on")
    return examples


def split_validation(examples: list[Example], seed: int,
                     log: Callable[[str], None] = print) -> tuple[list[Example], list[Example]]:
    """Split off a validation share when the job gave no validation file."""
    if len(examples) < 2:
        log("no validation data, and too few training lines to split some off: not evaluating")
        return examples, []
    count = max(1, int(len(examples) * VALIDATION_SHARE + 0.5))   # half up, not to even
    chosen = set(random.Random(seed).sample(range(len(examples)), count))
    train = [e for i, e in enumerate(examples) if i not in chosen]
    validation = [e for i, e in enumerate(examples) if i in chosen]
    log(f"no validation data given: split {count} of {len(examples)} training lines off "
        f"for validation (seed {seed})")
    return train, validation


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    suffix = path.suffix.lower()
    text = _read_text(path)
    if suffix in (".csv", ".tsv"):
        yield from _table_records(path.name, text, "\t" if suffix == ".tsv" else ",")
        return
    if suffix == ".json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{path.name} line {exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        for index, item in enumerate(items):
            yield f"{path.name} item {index + 1}", item
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path.name} line {number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{path.name} line {number}: not valid JSON: {exc.msg} (column {exc.colno})"
            ) from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")   # a BOM from a spreadsheet export is fine
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path.name} is not UTF-8 text: {exc.reason} at byte "
                                f"{exc.start}") from None


def _table_records(name: str, text: str, delimiter: str) -> Iterator[tuple[str, Any]]:
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    for row in reader:
        where = f"{name} line {reader.line_num}"
        messages = row.get("messages")
        if messages is not None:
            try:
                row = {**row, "messages": json.loads(messages)}
            except json.JSONDecodeError as exc:
                raise InvalidInputError(
                    f"{where}: the messages column is not valid JSON: {exc.msg}") from None
        yield where, row


def _chat_example(where: str, record: Any) -> Example:
    shape = 'each line must be {"messages": [{"role": ..., "content": ...}, ...]}'
    if not isinstance(record, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {_kind(record)}; {shape}")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        what = "no 'messages' key" if messages is None else f"'messages' is {_kind(messages)}"
        raise InvalidInputError(f"{where}: {what}; {shape}")
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidInputError(f"{where}: messages[{index}] is {_kind(message)}, "
                                    f"not an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise InvalidInputError(f"{where}: messages[{index}] has role {json.dumps(role)}; "
                                    f"the role must be one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise InvalidInputError(f"{where}: messages[{index}] ({role}) has content "
                                    f"{_kind(content)}; it must be a string")
        checked.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in checked):
        raise InvalidInputError(f"{where}: no assistant message; a chat example needs at least "
                                f"one assistant turn to learn from")
    return Example(where=where, messages=tuple(checked))


def _text_example(where: str, record: Any, text_key: str, ground_truth_key: str) -> Example:
    if not isinstance(record, dict):
        raise InvalidInputError(f"{where}: expected a JSON object with '{text_key}' and "
                                f"'{ground_truth_key}', got {_kind(record)}")
    values = []
    for key in (text_key, ground_truth_key):
        value = record.get(key)
        if not isinstance(value, str):
            what = "is missing" if value is None else f"is {_kind(value)}, not a string"
            raise InvalidInputError(f"{where}: '{key}' {what} (text_completion needs "
                                    f"'{text_key}' (prompt) and '{ground_truth_key}' "
                                    f"(completion))")
        values.append(value)
    if not values[1]:
        raise InvalidInputError(f"{where}: '{ground_truth_key}' is empty: nothing to learn")
    return Example(where=where, prompt=values[0], completion=values[1])


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
