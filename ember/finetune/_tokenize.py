"""Token ids and labels for training, with the loss masked to what the model should learn.

Chat examples are rendered with the base model's own chat template (what it will see when it is
served), and only the assistant turns carry labels: the model learns to answer, not to predict
the user. Each assistant turn's span is found by rendering the conversation up to the turn (with
the generation prompt) and through it; the two renderings are prefixes of the full text, so the
span is a character range, mapped to tokens through the tokenizer's offsets. Working in characters
keeps the mask right where the tokenizer merges text across a turn boundary. A template that does
not render incrementally (one that rewrites earlier turns) falls back to finding the turn's content
after the previous span.

Text completion examples are the prompt's tokens (labels -100) then the completion's and the end
token. Sequences longer than ``max_seq_length`` are cut at the end (counted and logged), or
refused, naming the first line, when ``truncate_long_sequences`` is false. A sequence cut so far
that none of its labelled tokens remain is dropped, since it would teach nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ember.errors import InvalidInputError
from ember.finetune.data import Example

IGNORE = -100


@dataclass
class Encoded:
    """The tokenised examples of one split, and what happened to the long ones."""

    rows: list[dict[str, list[int]]]
    truncated: int = 0
    dropped: int = 0
    tokens: int = 0


def encode(examples: Sequence[Example], tokenizer: Any, task: str, max_seq_length: int, *,
           truncate: bool = True, split: str = "training",
           log: Callable[[str], None] = print) -> Encoded:
    """Tokenise ``examples``; raises :class:`InvalidInputError` for a too-long line when not
    ``truncate``."""
    if task == "chat_completion" and not getattr(tokenizer, "chat_template", None):
        raise InvalidInputError("the base model's tokenizer has no chat template, which "
                                "chat_completion needs to render conversations; use "
                                "text_completion for this model")
    out = Encoded(rows=[])
    for example in examples:
        if task == "chat_completion":
            ids, labels = chat_tokens(tokenizer, example.messages, example.where)
        else:
            ids, labels = text_tokens(tokenizer, example.prompt, example.completion)
        if len(ids) > max_seq_length:
            if not truncate:
                raise InvalidInputError(
                    f"{example.where}: {len(ids)} tokens, longer than max_seq_length "
                    f"{max_seq_length} (set the hyperparameter truncate_long_sequences to "
                    f"'true' to cut long sequences instead, or raise max_seq_length)")
            out.truncated += 1
            ids, labels = ids[:max_seq_length], labels[:max_seq_length]
            if all(label == IGNORE for label in labels):
                out.dropped += 1
                continue
        out.rows.append({"input_ids": ids, "labels": labels})
        out.tokens += len(ids)
    if out.truncated:
        log(f"{out.truncated} of {len(examples)} {split} sequences were longer than "
            f"{max_seq_length} tokens and were truncated")
    if out.dropped:
        log(f"{out.dropped} of them kept nothing to learn after truncation and were left out")
    if examples and not out.rows:
        raise InvalidInputError(f"no {split} sequence has anything left to learn within "
                                f"max_seq_length {max_seq_length}")
    return out


def chat_tokens(tokenizer: Any, messages: Sequence[dict[str, str]],
                where: str = "") -> tuple[list[int], list[int]]:
    """The conversation's token ids, and labels that are -100 outside the assistant turns."""
    msgs = [dict(m) for m in messages]
    full = _render(tokenizer, msgs, False, where)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for index, message in enumerate(msgs):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, msgs[:index], True, where) if index else ""
        through = _render(tokenizer, msgs[:index + 1], False, where)
        if (index and full.startswith(before) and full.startswith(through)
                and cursor <= len(before) <= len(through)):
            span = (len(before), len(through))
        else:
            start = full.find(message["content"], cursor)
            if start < 0:
                raise InvalidInputError(f"{where}: the chat template does not reproduce "
                                        f"messages[{index}]'s content")
            span = (start, start + len(message["content"]))
        spans.append(span)
        cursor = span[1]
    encoding = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoding["input_ids"])
    labels = [token if any(s < end and e > start for start, end in spans) else IGNORE
              for token, (s, e) in zip(ids, encoding["offset_mapping"])]
    return ids, labels


def text_tokens(tokenizer: Any, prompt: str, completion: str) -> tuple[list[int], list[int]]:
    """The prompt's ids (not learnt) followed by the completion's and the end token."""
    prompt_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"]) if prompt else []
    completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        completion_ids.append(tokenizer.eos_token_id)
    return prompt_ids + completion_ids, [IGNORE] * len(prompt_ids) + completion_ids


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool,
            where: str) -> str:
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=generation_prompt)
    except Exception as exc:   # the template's own checks (raise_exception), on the user's data
        raise InvalidInputError(f"{where}: the model's chat template refused this conversation: "
                                f"{exc}") from None
    return text if isinstance(text, str) else str(text)
