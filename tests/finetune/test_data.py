"""Reading, checking, splitting and tokenising fine-tuning data (no model is loaded here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ember.errors import InvalidInputError
from ember.finetune._config import FinetuneConfig
from ember.finetune._hyperparameters import SPECS, parse_hyperparameters
from ember.finetune._tokenize import IGNORE, chat_tokens, encode, text_tokens
from ember.finetune.data import Example, read_examples, split_validation
from tests.finetune.conftest import chat_line, write_jsonl


def _error(path: Path, task: str = "chat_completion", **kw: Any) -> str:
    with pytest.raises(InvalidInputError) as info:
        read_examples(path, task, **kw)
    return info.value.message


def test_broken_json_names_file_and_line(tmp_path: Path) -> None:
    rows: list[Any] = [chat_line("q", "a")] * 4 + ['{"messages": [', chat_line("q", "a")]
    message = _error(write_jsonl(tmp_path / "train.jsonl", rows))
    assert message.startswith("train.jsonl line 5: not valid JSON: ")


def test_wrong_role_names_line_and_message_index(tmp_path: Path) -> None:
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "yo"}]}
    message = _error(write_jsonl(tmp_path / "train.jsonl", [chat_line("q", "a"), bad]))
    assert message == ('train.jsonl line 2: messages[1] has role "bot"; the role must be one '
                       'of system, user, assistant')


@pytest.mark.parametrize("record, expected", [
    ([1, 2], "expected a JSON object, got a list"),
    ({"text": "x"}, "no 'messages' key"),
    ({"messages": []}, "'messages' is a list"),
    ({"messages": ["hi"]}, "messages[0] is a string"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0] (user) has content a number"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
])
def test_chat_shape_errors(tmp_path: Path, record: Any, expected: str) -> None:
    message = _error(write_jsonl(tmp_path / "d.jsonl", [record]))
    assert message.startswith("d.jsonl line 1: ") and expected in message


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("\n  \n")
    assert _error(tmp_path / "train.jsonl") == \
        "train.jsonl is empty: it has no examples to train on"


def test_unknown_keys_ignored_and_blank_lines_skipped(tmp_path: Path) -> None:
    row = {**chat_line("q", "a"), "id": 7, "meta": {"x": 1}}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(row) + "\n\n" + json.dumps(row) + "\n")
    examples = read_examples(path, "chat_completion")
    assert [e.where for e in examples] == ["t.jsonl line 1", "t.jsonl line 3"]
    assert examples[0].messages == ({"role": "user", "content": "q"},
                                    {"role": "assistant", "content": "a"})


def test_text_completion_keys(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "2+2=", "ground_truth": "4", "x": 1}])
    assert read_examples(path, "text_completion")[0].completion == "4"
    custom = write_jsonl(tmp_path / "c.jsonl", [{"q": "2+2=", "a": "4"}, {"q": "1+1="}])
    message = _error(custom, "text_completion", text_key="q", ground_truth_key="a")
    assert message.startswith("c.jsonl line 2: 'a' is missing")


def test_json_list_csv_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps([chat_line("q", "a"), chat_line("r", "b")]))
    assert [e.where for e in read_examples(tmp_path / "d.json", "chat_completion")] == \
        ["d.json item 1", "d.json item 2"]
    (tmp_path / "d.csv").write_text('text,ground_truth\n"Say ""hi""",hi\nx,\n')
    assert _error(tmp_path / "d.csv", "text_completion").startswith("d.csv line 3: ")
    messages = json.dumps(chat_line("q", "a")["messages"])
    (tmp_path / "d.tsv").write_text(f"messages\tid\n{messages}\t1\n")
    assert read_examples(tmp_path / "d.tsv", "chat_completion")[0].messages[1]["content"] == "a"


def test_split_validation_is_seeded_and_logged() -> None:
    examples = [Example(where=f"line {i}") for i in range(25)]
    lines: list[str] = []
    train, val = split_validation(examples, seed=42, log=lines.append)
    assert (len(train), len(val)) == (22, 3) and set(train).isdisjoint(val)
    assert lines == ["no validation data given: split 3 of 25 training lines off for "
                     "validation (seed 42)"]
    assert split_validation(examples, seed=42, log=lines.append)[1] == val
    assert split_validation(examples, seed=7, log=lines.append)[1] != val
    assert len(split_validation(examples[:2], 1, log=lines.append)[1]) == 1
    assert split_validation(examples[:1], 1, log=lines.append) == (examples[:1], [])


def _learnt(tokenizer: Any, ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode([t for t, lab in zip(ids, labels) if lab != IGNORE])


def test_chat_loss_is_masked_to_assistant_turns(tiny_tokenizer: Any) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "the answer"},
                {"role": "user", "content": "what capital"},
                {"role": "assistant", "content": "paris"}]
    ids, labels = chat_tokens(tiny_tokenizer, messages)
    assert len(ids) == len(labels)
    assert _learnt(tiny_tokenizer, ids, labels) == "the answer<|im_end|>\nparis<|im_end|>\n"
    # every token outside those spans is masked: the prompt part decodes back to the rest
    masked = tiny_tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE])
    assert "hello" in masked and "the answer" not in masked and "paris" not in masked


def test_masking_with_a_template_that_adds_a_system_turn(tiny_tokenizer: Any) -> None:
    """SmolLM2's template inserts a default system prompt when the first turn is not one; the
    prefix renderings still line up."""
    tokenizer = _with_template(tiny_tokenizer, (
        "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
        "{{ '<|im_start|>system\\nyou are a helpful model<|im_end|>\\n' }}{% endif %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"))
    ids, labels = chat_tokens(tokenizer, [{"role": "user", "content": "hello"},
                                          {"role": "assistant", "content": "zorblax"}])
    assert _learnt(tokenizer, ids, labels) == "zorblax<|im_end|>\n"


def test_masking_falls_back_when_the_template_rewrites_earlier_turns(
        tiny_tokenizer: Any) -> None:
    """A template that renders the last turn differently (no prefix property): the assistant
    content is still found and learnt."""
    tokenizer = _with_template(tiny_tokenizer, (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + ('<|im_end|>' if loop.last else '<pad>') }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"))
    ids, labels = chat_tokens(tokenizer, [{"role": "user", "content": "hello"},
                                          {"role": "assistant", "content": "paris"},
                                          {"role": "user", "content": "again"},
                                          {"role": "assistant", "content": "zorblax"}])
    assert _learnt(tokenizer, ids, labels) == "pariszorblax"


def test_a_template_refusing_a_conversation_names_the_line(tiny_tokenizer: Any) -> None:
    tokenizer = _with_template(tiny_tokenizer, (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
        "supported') }}{% endif %}{% for message in messages %}{{ message['content'] }}"
        "{% endfor %}"))
    example = Example(where="t.jsonl line 3", messages=(
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "paris"}))
    with pytest.raises(InvalidInputError) as info:
        encode([example], tokenizer, "chat_completion", 64)
    assert info.value.message == ("t.jsonl line 3: the model's chat template refused this "
                                  "conversation: System role not supported")


def _with_template(tokenizer: Any, template: str) -> Any:
    from transformers import AutoTokenizer

    copy = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    copy.chat_template = template
    return copy


def test_text_completion_loss_on_completion_only(tiny_tokenizer: Any) -> None:
    ids, labels = text_tokens(tiny_tokenizer, "what capital of france", " paris")
    assert _learnt(tiny_tokenizer, ids, labels) == " paris<|im_end|>"
    assert labels[0] == IGNORE and ids[-1] == tiny_tokenizer.eos_token_id


def test_long_sequences_truncated_and_counted(tiny_tokenizer: Any) -> None:
    long = Example(where="t.jsonl line 2", messages=(
        {"role": "user", "content": "hello " * 3},
        {"role": "assistant", "content": "the secret word is zorblax " * 20}))
    short = Example(where="t.jsonl line 1", messages=(
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "paris"}))
    lines: list[str] = []
    encoded = encode([short, long, long], tiny_tokenizer, "chat_completion", 40, log=lines.append)
    assert encoded.truncated == 2 and all(len(r["input_ids"]) <= 40 for r in encoded.rows)
    assert lines == ["2 of 3 training sequences were longer than 40 tokens and were truncated"]
    with pytest.raises(InvalidInputError) as info:
        encode([short, long], tiny_tokenizer, "chat_completion", 40, truncate=False)
    assert info.value.message.startswith("t.jsonl line 2: ") and "max_seq_length 40" in \
        info.value.message


def test_sequence_with_nothing_left_to_learn_is_dropped(tiny_tokenizer: Any) -> None:
    example = Example(where="t.jsonl line 1", messages=(
        {"role": "user", "content": "hello " * 40}, {"role": "assistant", "content": "paris"}))
    with pytest.raises(InvalidInputError, match="no training sequence has anything left"):
        encode([example], tiny_tokenizer, "chat_completion", 16, log=lambda _: None)


def test_hyperparameters_parsed_and_checked() -> None:
    hp = parse_hyperparameters({"learning_rate": "0.001", "max_steps": "20",
                                "merge_lora_weights": "False", "lora_alpha": 16})
    assert (hp["learning_rate"], hp["max_steps"], hp["merge_lora_weights"]) == (0.001, 20, False)
    assert (hp["lora_alpha"], hp["num_train_epochs"], hp["save_total_limit"]) == (16, 1, -1)
    with pytest.raises(InvalidInputError) as info:
        parse_hyperparameters({"learning_rat": "1"})
    assert info.value.message == f"unknown hyperparameter learning_rat; known: {', '.join(SPECS)}"
    for raw, expected in [({"learning_rate": "fast"}, "learning_rate: 'fast' is not a number"),
                          ({"max_steps": "0"}, "max_steps: 0 is below the minimum 1 (or -1)"),
                          ({"optim": "sgd"}, "optim: 'sgd' is not one of adamw_torch, adafactor"),
                          ({"apply_lora": "false"}, "LoRA adapters only")]:
        with pytest.raises(InvalidInputError, match=re.escape(expected)):
            parse_hyperparameters(raw)


def test_config_rejects_other_tasks(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"task": "text_classification", "base_model_path": "m",
                                "training_data": "t", "output_dir": "o"}))
    with pytest.raises(InvalidInputError) as info:
        FinetuneConfig.from_json(path)
    assert info.value.message == ("task 'text_classification' is not supported for fine-tuning; "
                                  "supported: chat_completion, text_completion")
