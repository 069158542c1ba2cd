"""The llama.cpp runtime on its own: batching, the prefix cache, cancellation, a full cache."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest

from ember.serving.llm.llamacpp import LlamaCppRuntime
from ember.serving.llm.runtime import (
    FINISH_CANCELLED,
    FINISH_LENGTH,
    Event,
    GenRequest,
    SamplingParams,
)
from tests.serving.llm.conftest import smollm2_gguf

CHAT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def runtime() -> Iterator[LlamaCppRuntime]:
    rt = LlamaCppRuntime(smollm2_gguf(), threads=1, max_sequences=4, kv_tokens=8192)
    yield rt
    rt.close()


def generate(rt: LlamaCppRuntime, prompts: list[list[int]], max_tokens: int = 8,
             **sampling: object) -> list[tuple[list[int], str]]:
    sink: queue.Queue[Event] = queue.Queue()
    for i, p in enumerate(prompts):
        rt.submit(GenRequest(prompt=p, max_tokens=max_tokens, sink=sink, index=i,
                             sampling=SamplingParams(**sampling)))  # type: ignore[arg-type]
    tokens: list[list[int]] = [[] for _ in prompts]
    finish = [""] * len(prompts)
    while not all(finish):
        e = sink.get(timeout=120)
        if e.finish:
            finish[e.index] = e.finish
        else:
            assert e.token is not None
            tokens[e.index].append(e.token)
    return list(zip(tokens, finish))


def test_requests_decode_together_and_each_gets_its_tokens(runtime: LlamaCppRuntime) -> None:
    prompts = [runtime.tokenize(CHAT.format(q), add_special=True)
               for q in ("Name a fruit.", "Name a colour.", "Count to five.",
                         "Say hello.", "Name a planet.", "Name a river.")]
    out = generate(runtime, prompts, max_tokens=6, temperature=0.0)  # 6 requests, 4 sequences
    assert runtime.stats["peak_sequences"] == 4
    for tokens, finish in out:
        assert finish in (FINISH_LENGTH, "stop") and 0 < len(tokens) <= 6
    # identical requests in one batch get identical greedy answers
    same = generate(runtime, [prompts[0]] * 4, max_tokens=12, temperature=0.0)
    assert len({tuple(t) for t, _ in same}) == 1


def test_a_shared_prefix_is_read_once(runtime: LlamaCppRuntime) -> None:
    prompt = runtime.tokenize(CHAT.format("Tell me about the sea."), add_special=True)
    first = generate(runtime, [prompt], temperature=0.0)
    before = dict(runtime.stats)
    again = generate(runtime, [prompt], temperature=0.0)
    assert again[0][0] and first[0][0]
    assert runtime.stats["prompt_tokens_read"] - before["prompt_tokens_read"] == 1
    assert runtime.stats["prompt_tokens_cached"] - before["prompt_tokens_cached"] == \
        len(prompt) - 1
    longer = runtime.tokenize(CHAT.format("Tell me about the sea.") + "The sea", add_special=False)
    before = dict(runtime.stats)
    generate(runtime, [longer], temperature=0.0)
    assert runtime.stats["prompt_tokens_read"] - before["prompt_tokens_read"] < len(longer) // 2


def test_cancel_ends_a_request_and_frees_its_sequence(runtime: LlamaCppRuntime) -> None:
    sink: queue.Queue[Event] = queue.Queue()
    req = GenRequest(prompt=runtime.tokenize("Once upon a time", add_special=True),
                     max_tokens=5000, sampling=SamplingParams(temperature=0.0), sink=sink)
    runtime.submit(req)
    first = sink.get(timeout=60)
    assert first.token is not None
    req.cancel()
    while True:
        e = sink.get(timeout=60)
        if e.finish:
            break
    assert e.finish == FINISH_CANCELLED
    out = generate(runtime, [runtime.tokenize("1, 2, 3,", add_special=True)], max_tokens=3,
                   temperature=0.0)
    assert out[0][1] == FINISH_LENGTH and len(out[0][0]) == 3


def test_a_full_cache_sets_requests_back_and_all_finish() -> None:
    """A cache too small for all the requests at once: some are set back, re-read what they
    had, and still end with all their tokens."""
    rt = LlamaCppRuntime(smollm2_gguf(), threads=1, max_sequences=4, context_length=128,
                         kv_tokens=128)
    try:
        prompts = [rt.tokenize(CHAT.format(f"Write a poem number {i} about winter."),
                               add_special=True) for i in range(4)]
        together = generate(rt, prompts, max_tokens=100, temperature=0.0)
        assert rt.stats["set_back"] > 0   # 4 × ~118 tokens do not fit in 256 cells
        assert all(len(t) == 100 and f == FINISH_LENGTH for t, f in together)
    finally:
        rt.close()


def test_a_seeded_request_repeats_whatever_the_cache_holds(runtime: LlamaCppRuntime) -> None:
    prompt = runtime.tokenize(CHAT.format("Invent a word."), add_special=True)
    first = generate(runtime, [prompt], max_tokens=16, temperature=1.0, seed=1234)
    generate(runtime, [prompt], max_tokens=4, temperature=0.0)   # the prefix is now cached
    before = dict(runtime.stats)
    again = generate(runtime, [prompt], max_tokens=16, temperature=1.0, seed=1234)
    assert again == first
    assert runtime.stats["prompt_tokens_read"] - before["prompt_tokens_read"] == len(prompt)
