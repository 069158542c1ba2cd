"""What the API layer asks of a runtime: tokens in, a stream of generated tokens out.

A runtime owns one loaded model and decodes every request it is given together, in one batch
per step (continuous batching): a request joins at the next step and leaves when it ends, so
sixteen concurrent streams cost far less than sixteen times one. ``submit`` is thread-safe;
each generated token, and then the end, is put on the request's ``sink`` queue as an
:class:`Event`.
"""

from __future__ import annotations

import abc
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

FINISH_STOP = "stop"        # the model ended its turn (or a stop sequence matched)
FINISH_LENGTH = "length"    # max_tokens or the context length reached
FINISH_ERROR = "error"
FINISH_CANCELLED = "cancelled"


class RuntimeMissing(Exception):
    """The runtime's package is not installed (the message names the pip extra)."""


class RequestRefused(Exception):
    """``submit`` refuses a request this runtime cannot serve as asked (the API answers 422)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class TopLogprob:
    token: str
    logprob: float
    raw: bytes


@dataclass
class Event:
    """One generated token (``token`` set) or the end of a request (``finish`` set)."""

    index: int                          # the choice this belongs to (n > 1)
    token: int | None = None
    piece: bytes = b""                  # the token's bytes (may split a UTF-8 character)
    logprob: float | None = None
    top: list[TopLogprob] | None = None
    finish: str | None = None           # FINISH_*
    error: str | None = None


@dataclass
class SamplingParams:
    temperature: float = 1.0            # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0                      # 0 = off
    min_p: float = 0.0
    seed: int | None = None             # None = a fresh random seed
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    json_mode: bool = False             # constrain the output to a JSON value
    logprobs: int | None = None         # None = off; else how many top alternatives (0..20)


@dataclass
class GenRequest:
    prompt: list[int]
    max_tokens: int
    sampling: SamplingParams
    sink: queue.Queue[Event]
    index: int = 0
    adapter: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()


class Runtime(abc.ABC):
    """One loaded language model."""

    name: str                            # "llama.cpp" | "transformers"
    context_length: int                  # prompt + completion tokens one request may hold
    chat_template: str | None            # Jinja2 (Hugging Face convention), or None
    bos_token: str
    eos_token: str

    @abc.abstractmethod
    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids of ``text``; special-token text (``<|im_start|>``) maps to its id."""

    @abc.abstractmethod
    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for in generated text (empty for control tokens)."""

    @abc.abstractmethod
    def submit(self, request: GenRequest) -> None:
        """Queue a request; its events arrive on ``request.sink``. Raises
        :class:`RequestRefused` (before queueing anything) for a request it cannot serve."""

    def adapters(self) -> dict[str, Any]:
        """Loaded LoRA adapters (name → details); the base has none."""
        return {}

    def embed(self, inputs: list[list[int]]) -> list[list[float]]:
        """One embedding per token-id list (from ``tokenize(text, add_special=True)``, each no
        longer than ``context_length``); embedding models only."""
        raise RequestRefused(f"the {self.name} runtime of this model does not produce "
                             "embeddings", param="input")

    @abc.abstractmethod
    def close(self) -> None:
        """Stop decoding; requests still queued end with FINISH_ERROR."""
