"""The language-model worker on the transformers runtime, with the real ``openai`` client: a tiny
Llama made in the test (no downloads) and two LoRA adapters, one worker process, one thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.serving.llm.conftest import WorkerProc, start_worker

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from tests.serving.llm import tiny_hf  # noqa: E402 - needs torch, checked above

NAME = "tiny-llama"
QUESTION = [{"role": "user", "content": "Tell me a story about the cat."}]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tiny-llama")
    tok = tiny_hf.build_base(root / "base")
    favourites = {"cats": tok(" cat")["input_ids"][-1], "dogs": tok(" dog")["input_ids"][-1]}
    for name, token in favourites.items():
        tiny_hf.train_adapter(root / "base", root / name, token)
    return {"root": root, "tok": tok, "favourites": favourites}


@pytest.fixture(scope="module")
def worker(models: dict[str, Any],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    root = models["root"]
    proc = start_worker(tmp_path_factory.mktemp("hf-worker"), runtime="transformers",
                        model_name=NAME, model_path=str(root / "base"), max_sequences=8,
                        adapters={"cats": str(root / "cats"), "dogs": str(root / "dogs")},
                        adapter_cache_size=1)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(worker: WorkerProc) -> openai.OpenAI:
    return openai.OpenAI(base_url=worker.url + "/v1", api_key="unused", max_retries=0,
                         timeout=120)


def chat_prompt(tok: Any, messages: list[dict[str, str]]) -> list[int]:
    """The prompt by transformers' own chat template and tokenizer (not Ember's)."""
    out = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def test_chat_and_completions_count_usage_like_the_tokenizer(models: dict[str, Any],
                                                             client: openai.OpenAI) -> None:
    tok = models["tok"]
    out = client.chat.completions.create(model=NAME, messages=QUESTION, temperature=0,
                                         max_tokens=12)
    assert out.choices[0].message.content and out.choices[0].finish_reason == "length"
    assert out.usage is not None
    assert out.usage.prompt_tokens == len(chat_prompt(tok, QUESTION))
    assert out.usage.completion_tokens == 12
    text = client.completions.create(model=NAME, prompt="the cat sat on", max_tokens=5,
                                     temperature=0)
    assert text.usage is not None and text.choices[0].finish_reason == "length"
    assert text.usage.prompt_tokens == len(tok("the cat sat on")["input_ids"])
    assert text.usage.completion_tokens == 5 and text.choices[0].text


def test_greedy_equals_transformers_generate(models: dict[str, Any],
                                            client: openai.OpenAI) -> None:
    tok = models["tok"]
    prompt = tok("one two three")["input_ids"]
    out = client.completions.create(model=NAME, prompt="one two three", max_tokens=8,
                                    temperature=0)
    expected = tiny_hf.greedy(models["root"] / "base", prompt, 8)
    assert out.choices[0].text == tok.decode(expected)


def test_stream_equals_the_whole_answer_and_ends_with_done(worker: WorkerProc,
                                                           client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=NAME, messages=QUESTION, temperature=0,
                                           max_tokens=10)
    pieces, finish, usage = [], None, None
    for chunk in client.chat.completions.create(model=NAME, messages=QUESTION, temperature=0,
                                                max_tokens=10, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
            continue
        pieces.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == "length"
    assert usage is not None and whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens == 10
    # Greedy: a sampled first token may be the end-of-sequence token (its logit is 0 in the
    # tiny model, not minus infinity), which would end the answer after no tokens.
    with httpx.stream("POST", worker.url + "/v1/completions", timeout=60,
                      json={"prompt": "the sun", "max_tokens": 3, "stream": True,
                            "temperature": 0}) as r:
        events = [e for e in r.read().decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert events[-2].startswith(": usage ") and events[-2].split()[-1] == "3"


def test_seed_repeats_sampled_text(client: openai.OpenAI) -> None:
    def sample(seed: int) -> str:
        out = client.chat.completions.create(model=NAME, messages=QUESTION, temperature=1.0,
                                             top_p=0.95, seed=seed, max_tokens=12)
        return out.choices[0].message.content or ""

    first = sample(42)
    assert sample(42) == first
    assert any(sample(s) != first for s in (7, 8))


def test_logprobs_come_from_the_model(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model=NAME, messages=QUESTION, temperature=0,
                                         max_tokens=3, logprobs=True, top_logprobs=2)
    content = out.choices[0].logprobs.content if out.choices[0].logprobs else None
    assert content is not None and len(content) == 3
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)   # greedy
    plain = client.chat.completions.create(model=NAME, messages=QUESTION, temperature=0,
                                           max_tokens=3)
    assert "".join(e.token for e in content) == plain.choices[0].message.content


def test_json_mode_is_refused_with_422(client: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.chat.completions.create(model=NAME, messages=QUESTION, max_tokens=2,
                                       response_format={"type": "json_object"})
    assert "response_format" in str(err.value)


def test_eight_concurrent_streams_complete(worker: WorkerProc) -> None:
    async def one(client: openai.AsyncOpenAI, i: int) -> tuple[str, str | None]:
        text, finish = "", None
        stream = await client.chat.completions.create(
            model=NAME, messages=[{"role": "user", "content": f"count to {i}"}],
            max_tokens=16, temperature=0 if i % 2 else 0.8, stream=True)
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
        return text, finish

    async def main() -> list[tuple[str, str | None]]:
        async with openai.AsyncOpenAI(base_url=worker.url + "/v1", api_key="x", max_retries=0,
                                      timeout=120) as client:
            return await asyncio.gather(*(one(client, i) for i in range(8)))

    results = asyncio.run(main())
    assert len(results) == 8
    for i, (text, finish) in enumerate(results):
        if i % 2:       # greedy: this model never picks the end of turn
            assert text and finish == "length"
        else:           # sampled: it may, rarely
            assert finish in ("stop", "length")


def test_a_client_gone_mid_stream_does_not_stop_the_others(worker: WorkerProc,
                                                           client: openai.OpenAI) -> None:
    with httpx.stream("POST", worker.url + "/v1/completions", timeout=60, json={
            "prompt": "the", "max_tokens": 400, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                break
    out = client.completions.create(model=NAME, prompt="red blue", max_tokens=4, temperature=0)
    assert out.usage is not None and out.usage.completion_tokens == 4


def adapter_state(worker: WorkerProc) -> dict[str, Any]:
    models = httpx.get(worker.url + "/v1/models", timeout=10).json()["data"]
    return {m["id"]: m for m in models}


def test_lora_adapters_load_on_first_use_and_take_turns_in_a_cache_of_one(
        models: dict[str, Any], worker: WorkerProc, client: openai.OpenAI) -> None:
    tok, root = models["tok"], models["root"]
    listed = adapter_state(worker)
    assert listed[NAME]["parent"] is None
    assert listed["cats"]["parent"] == NAME and listed["dogs"]["parent"] == NAME
    assert not listed["cats"]["loaded"] and not listed["dogs"]["loaded"]
    prompt = chat_prompt(tok, QUESTION)
    base = client.chat.completions.create(model=NAME, messages=QUESTION, temperature=0,
                                          max_tokens=8).choices[0].message.content
    expected = {name: tok.decode(tiny_hf.greedy(root / "base", prompt, 8, root / name))
                for name in ("cats", "dogs")}

    def ask(model: str) -> str:
        out = client.chat.completions.create(model=model, messages=QUESTION, temperature=0,
                                             max_tokens=8)
        assert out.model == model
        return out.choices[0].message.content or ""

    cats = ask("cats")
    assert cats == expected["cats"] and cats != base and "cat" in cats
    assert adapter_state(worker)["cats"]["loaded"]
    assert ask("dogs") == expected["dogs"] != cats
    state = adapter_state(worker)
    assert state["dogs"]["loaded"] and not state["cats"]["loaded"]   # LRU of one
    assert ask("cats") == expected["cats"]
    # The base is untouched by the adapters loaded into the same model.
    assert client.chat.completions.create(model=NAME, messages=QUESTION, temperature=0,
                                          max_tokens=8).choices[0].message.content == base
    # A seeded request on an adapter (the exact lane) sees the adapter too.
    seeded = client.chat.completions.create(model="cats", messages=QUESTION, temperature=0,
                                            seed=1, max_tokens=8)
    if seeded.choices[0].message.content != expected["cats"]:   # seen once in a full CI run
        again = client.chat.completions.create(model="cats", messages=QUESTION, temperature=0,
                                               seed=1, max_tokens=8, logprobs=True,
                                               top_logprobs=3)
        steps = [[(t.token, round(t.logprob, 3)) for t in c.top_logprobs]
                 for c in (again.choices[0].logprobs.content or [])]   # type: ignore[union-attr]
        pytest.fail(f"seeded on cats: {seeded.choices[0].message.content!r}, expected "
                    f"{expected['cats']!r}; asked again: {again.choices[0].message.content!r}, "
                    f"top logprobs {steps}; state {adapter_state(worker)}; worker log tail:\n"
                    + worker.log.read_text(errors="replace")[-3000:])
