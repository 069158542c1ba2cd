"""The transformers runtime's exact lane: requests the continuous-batching manager cannot serve
faithfully (a ``seed``, ``logprobs``, penalties, ``min_p``).

Each request keeps its own ``DynamicCache`` and its own seeded ``torch.Generator``; the lane's one
thread gives every request in turn one forward pass (prompt first, then a token at a time), so a
seeded request draws the same tokens whatever else is running. Log-probabilities are those of the
model's own distribution (before temperature and truncation), with the top alternatives, as
OpenAI reports them. There is no batching here: these requests are the rarer kind, and each step
costs one small forward.
"""

from __future__ import annotations

import inspect
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ember.serving.llm.runtime import (
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_LENGTH,
    FINISH_STOP,
    Event,
    GenRequest,
    SamplingParams,
    TopLogprob,
)

PENALTY_WINDOW = 256      # last generated tokens the penalties look at (as the llama.cpp runtime)


def needs_exact_lane(s: SamplingParams) -> bool:
    """Whether a request needs what only this lane does."""
    return (s.seed is not None or s.logprobs is not None or s.min_p > 0.0
            or s.presence_penalty != 0.0 or s.frequency_penalty != 0.0
            or s.repetition_penalty != 1.0)


@dataclass
class _Seq:
    req: GenRequest
    generator: Any
    todo: list[int]
    cache: Any = None
    generated: list[int] = field(default_factory=list)


class ExactLane:
    """One thread decoding its requests in turn."""

    def __init__(self, model: Any, *, eos: set[int], context_length: int,
                 token_bytes: Callable[[int], bytes],
                 use_adapter: Callable[[str | None], None], max_active: int) -> None:
        import torch

        self._torch = torch
        self._model = model
        self._eos = eos
        self._ctx = context_length
        self._token_bytes = token_bytes
        self._use_adapter = use_adapter
        self._max_active = max(1, max_active)
        # transformers renamed ``past_key_values`` to ``cache`` (5.2x): pass what the model takes.
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self.lock = threading.Lock()       # held around each forward (adapter loads take it)
        self._wake = threading.Condition()
        self._queue: list[_Seq] = []
        self._active: list[_Seq] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="hf-exact-lane", daemon=True)
        self._thread.start()

    def submit(self, req: GenRequest) -> None:
        torch = self._torch
        seed = req.sampling.seed if req.sampling.seed is not None else random.getrandbits(63)
        generator = torch.Generator(device=self._model.device)
        generator.manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)
        seq = _Seq(req=req, generator=generator, todo=list(req.prompt))
        with self._wake:
            if self._closed:
                req.sink.put(Event(index=req.index, finish=FINISH_ERROR,
                                   error="the model server is stopping"))
                return
            self._queue.append(seq)
            self._wake.notify()

    def adapters_in_use(self) -> set[str]:
        with self._wake:
            return {s.req.adapter for s in self._active + self._queue if s.req.adapter}

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=10)

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        torch = self._torch
        with torch.inference_mode():
            while True:
                with self._wake:
                    while not self._closed and not self._queue and not self._active:
                        self._wake.wait()
                    if self._closed:
                        break
                    while self._queue and len(self._active) < self._max_active:
                        self._active.append(self._queue.pop(0))
                    turn = list(self._active)
                for seq in turn:
                    try:
                        done = self._step(seq)
                    except Exception as exc:  # noqa: BLE001 - the request fails, the lane goes on
                        self._finish(seq, FINISH_ERROR, f"{type(exc).__name__}: {exc}")
                        continue
                    if done is not None:
                        self._finish(seq, done)
        with self._wake:
            pending = self._active + self._queue
            self._active, self._queue = [], []
        for seq in pending:
            seq.req.sink.put(Event(index=seq.req.index, finish=FINISH_ERROR,
                                   error="the model server is stopping"))

    def _finish(self, seq: _Seq, finish: str, error: str | None = None) -> None:
        with self._wake:
            if seq in self._active:
                self._active.remove(seq)
        seq.cache = None
        seq.req.sink.put(Event(index=seq.req.index, finish=finish, error=error))

    def _step(self, seq: _Seq) -> str | None:
        """One forward and one token; the finish reason when the request ended."""
        torch, req = self._torch, seq.req
        if req.cancelled.is_set():
            return FINISH_CANCELLED
        if seq.cache is None:
            from transformers import DynamicCache
            seq.cache = DynamicCache(config=self._model.config)
        ids = torch.tensor([seq.todo], device=self._model.device)
        with self.lock:
            self._use_adapter(req.adapter)
            out = self._model(input_ids=ids, use_cache=True, logits_to_keep=1,
                              **{self._cache_kwarg: seq.cache})
        logits = out.logits[0, -1].float()
        token = self._sample(seq, logits)
        if token in self._eos:
            return FINISH_STOP
        event = Event(index=req.index, token=token, piece=self._token_bytes(token))
        if req.sampling.logprobs is not None:
            self._logprobs(logits, token, req.sampling.logprobs, event)
        seq.generated.append(token)
        seq.todo = [token]
        req.sink.put(event)
        if len(seq.generated) >= req.max_tokens or \
                len(req.prompt) + len(seq.generated) >= self._ctx:
            return FINISH_LENGTH
        return None

    def _sample(self, seq: _Seq, logits: Any) -> int:
        torch, s = self._torch, seq.req.sampling
        x = logits.clone()
        recent = seq.generated[-PENALTY_WINDOW:]
        if recent and (s.presence_penalty or s.frequency_penalty or s.repetition_penalty != 1.0):
            ids = torch.tensor(recent, device=x.device)
            counts = torch.bincount(ids, minlength=x.numel())[:x.numel()].to(x.dtype)
            seen = counts > 0
            if s.repetition_penalty != 1.0:
                penalised = torch.where(x > 0, x / s.repetition_penalty, x * s.repetition_penalty)
                x = torch.where(seen, penalised, x)
            x = x - s.frequency_penalty * counts - s.presence_penalty * seen.to(x.dtype)
        if s.temperature <= 0.0:
            return int(torch.argmax(x).item())
        x = x / s.temperature
        if s.top_k > 0 and s.top_k < x.numel():
            kth = torch.topk(x, s.top_k).values[-1]
            x = x.masked_fill(x < kth, float("-inf"))
        probs = torch.softmax(x, dim=-1)
        if s.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
            drop = before >= s.top_p
            drop[0] = False
            probs = probs.scatter(0, order, sorted_probs.masked_fill(drop, 0.0))
        if s.min_p > 0.0:
            probs = probs.masked_fill(probs < s.min_p * probs.max(), 0.0)
        return int(torch.multinomial(probs, 1, generator=seq.generator).item())

    def _logprobs(self, logits: Any, token: int, top: int, event: Event) -> None:
        torch = self._torch
        lp = torch.log_softmax(logits, dim=-1)
        event.logprob = float(lp[token])
        if top:
            values, ids = torch.topk(lp, top)
            event.top = [TopLogprob(token=self._token_bytes(int(t)).decode("utf-8", "replace"),
                                    logprob=float(v), raw=self._token_bytes(int(t)))
                         for v, t in zip(values.tolist(), ids.tolist())]
