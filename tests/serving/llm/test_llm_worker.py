"""The language-model worker with the real ``openai`` client, against SmolLM2 on llama.cpp."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from tests.serving.llm.conftest import WorkerProc, smollm2_gguf

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(llm_worker: WorkerProc) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm_worker.url + "/v1", api_key="unused", max_retries=0)


def reference_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """The prompt's length by llama-cpp-python's own chat formatter and tokenizer (not Ember's)."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = Llama(model_path=str(smollm2_gguf()), vocab_only=True, verbose=False)
    fmt = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"],
                              eos_token="<|im_end|>", bos_token="<|im_start|>",
                              add_generation_prompt=True)
    prompt = fmt(messages=messages).prompt
    return len(llm.tokenize(prompt.encode(), add_bos=False, special=True))


def test_chat_answers_with_usage_equal_to_the_tokenizer_count(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="SmolLM2-135M-Instruct", messages=QUESTION,
                                         temperature=0, max_tokens=24)
    choice = out.choices[0]
    assert (choice.message.content or "").strip()
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert out.object == "chat.completion" and out.id.startswith("chatcmpl-")
    assert out.usage is not None
    assert out.usage.prompt_tokens == reference_prompt_tokens(QUESTION)
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    assert 0 < out.usage.completion_tokens <= 24


def test_max_tokens_ends_with_length_and_counts_exactly(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="m", messages=[
        {"role": "user", "content": "Write a long story about a dragon."}],
        temperature=0, max_completion_tokens=7)
    assert out.choices[0].finish_reason == "length"
    assert out.usage is not None and out.usage.completion_tokens == 7


def test_stream_equals_the_whole_answer_and_ends_with_done(llm_worker: WorkerProc,
                                                           client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="m", messages=QUESTION, temperature=0,
                                           max_tokens=20)
    pieces, finish, usage = [], None, None
    for chunk in client.chat.completions.create(model="m", messages=QUESTION, temperature=0,
                                                max_tokens=20, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
            continue
        assert chunk.object == "chat.completion.chunk"
        pieces.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and whole.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens,
                                                              whole.usage.completion_tokens)
    # On the wire: SSE events, the usage comment for the router, and [DONE] last.
    with httpx.stream("POST", llm_worker.url + "/v1/chat/completions", timeout=60,
                      json={"messages": QUESTION, "max_tokens": 5, "stream": True}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        events = [e for e in r.read().decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert events[-2].startswith(": usage ")
    prompt, completion = map(int, events[-2].split()[2:])
    assert prompt == whole.usage.prompt_tokens and completion == 5


def test_seed_repeats_sampled_text(client: openai.OpenAI) -> None:
    def sample(seed: int) -> str:
        out = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Invent a name for a cat."}],
            temperature=1.0, top_p=0.95, seed=seed, max_tokens=16)
        return out.choices[0].message.content or ""

    first = sample(42)
    assert sample(42) == first
    assert any(sample(s) != first for s in (7, 8))


def test_stop_sequence_cuts_the_text(client: openai.OpenAI) -> None:
    out = client.completions.create(model="m", prompt="The capital of France is",
                                    max_tokens=24, temperature=0, stop=["."])
    choice = out.choices[0]
    assert "Paris" in choice.text and "." not in choice.text
    assert choice.finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="m", prompt="The capital of France is", max_tokens=24, temperature=0,
        stop=["."], stream=True) if c.choices)
    assert streamed == choice.text


def test_completions_echo_n_and_logprobs(client: openai.OpenAI) -> None:
    out = client.completions.create(model="m", prompt="Once upon a time", max_tokens=4,
                                    temperature=0.8, seed=3, n=2, echo=True, logprobs=2)
    assert len(out.choices) == 2 and {c.index for c in out.choices} == {0, 1}
    for c in out.choices:
        assert c.text.startswith("Once upon a time")
        assert c.logprobs is not None and len(c.logprobs.tokens or []) == 4
        assert all(len(t) == 2 for t in c.logprobs.top_logprobs or [])
    chat = client.chat.completions.create(model="m", messages=QUESTION, max_tokens=3,
                                          temperature=0, logprobs=True, top_logprobs=3)
    content = chat.choices[0].logprobs.content if chat.choices[0].logprobs else None
    assert content is not None and len(content) == 3
    assert all(e.logprob <= 0 and len(e.top_logprobs) == 3 for e in content)
    # greedy: the chosen token is the most likely one
    assert all(e.top_logprobs[0].logprob == pytest.approx(e.logprob) for e in content)


def test_json_object_response_format_gives_json(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(
        model="m", temperature=0, max_tokens=60, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give the capital of France as JSON."}])
    text = out.choices[0].message.content or ""
    if out.choices[0].finish_reason == "stop":
        json.loads(text)
    else:   # cut by max_tokens: still the start of a JSON value
        assert text.lstrip()[:1] in ("{", "[")


def test_content_parts_and_system_messages(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="m", temperature=0, max_tokens=12, messages=[
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": [{"type": "text", "text": "Capital of "},
                                     {"type": "text", "text": "France?"}]}])
    assert (out.choices[0].message.content or "").strip()
    assert out.usage is not None
    assert out.usage.prompt_tokens == reference_prompt_tokens([
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Capital of France?"}])


def test_unknown_parameter_is_422_naming_it_unless_passed_through(
        llm_worker: WorkerProc, client: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.chat.completions.create(model="m", messages=QUESTION, max_tokens=2,
                                       extra_body={"bogus_param": 1})
    assert "bogus_param" in str(err.value)
    body = err.value.body
    assert isinstance(body, dict) and body.get("param") == "bogus_param"
    out = client.chat.completions.create(model="m", messages=QUESTION, max_tokens=2,
                                         extra_body={"bogus_param": 1},
                                         extra_headers={"extra-parameters": "pass-through"})
    assert out.usage is not None and out.usage.completion_tokens <= 2
    # vLLM-style sampling extras are honoured, not refused
    client.chat.completions.create(model="m", messages=QUESTION, max_tokens=2,
                                   extra_body={"top_k": 5, "min_p": 0.1})


def test_over_long_prompt_is_400_saying_both_lengths(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="m", prompt="hello " * 9000, max_tokens=4)
    message = str(err.value)
    assert "8192" in message and "context length" in message
    assert err.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as err2:
        client.chat.completions.create(model="m", messages=QUESTION, max_tokens=8190)
    assert "8192" in str(err2.value) and "8190 in the completion" in str(err2.value)


@pytest.mark.parametrize("body, status, where", [
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages[0].role"),
    ({"messages": QUESTION, "temperature": 5}, 400, "temperature"),
    ({"messages": QUESTION, "max_tokens": 0}, 400, "max_tokens"),
    ({"messages": QUESTION, "n": 99}, 400, "n"),
    ({"messages": QUESTION, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ({"messages": QUESTION, "top_logprobs": 2}, 400, "top_logprobs"),
    ({"messages": QUESTION, "stream_options": {"include_usage": True}}, 400, "stream_options"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                 "image_url": {"url": "x"}}]}]}, 422, "image_url"),
    ({"messages": QUESTION, "response_format": {"type": "json_schema"}}, 422, "json_schema"),
    ({"messages": QUESTION, "tools": [{"type": "function"}]}, 422, "tools"),
])
def test_bad_requests_name_the_field(llm_worker: WorkerProc, body: dict[str, object],
                                     status: int, where: str) -> None:
    r = httpx.post(llm_worker.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert where in err["message"] and err["type"] == "invalid_request_error"


def test_malformed_bodies(llm_worker: WorkerProc) -> None:
    url = llm_worker.url + "/v1/chat/completions"
    r = httpx.post(url, content=b"{not json", timeout=10)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.post(url, content=b"\xff\xfe\x00garbage", timeout=10)
    assert r.status_code == 400
    r = httpx.post(url, json=[1, 2], timeout=10)
    assert r.status_code == 400 and "JSON object" in r.json()["error"]["message"]
    r = httpx.post(llm_worker.url + "/v1/nothing", json={}, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.post(url, content=b"x" * (17 * 1024 * 1024), timeout=30)
    assert r.status_code == 413


def test_models_info_and_azure_score(llm_worker: WorkerProc) -> None:
    models = httpx.get(llm_worker.url + "/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["SmolLM2-135M-Instruct"]
    assert models["data"][0]["parent"] is None
    info = httpx.get(llm_worker.url + "/info", timeout=10).json()
    assert info == {"model_name": "SmolLM2-135M-Instruct", "model_type": "chat_completion",
                    "model_provider_name": "Ember"}
    r = httpx.post(llm_worker.url + "/score", timeout=60, json={"input_data": {
        "input_string": QUESTION, "parameters": {"temperature": 0, "max_new_tokens": 12}}})
    assert r.status_code == 200 and r.json()["output"].strip()
    assert r.headers["x-ember-usage"].split()[1] != "0"
    r = httpx.post(llm_worker.url + "/score", timeout=60, json={"input_data": {
        "input_string": ["The capital of France is", "One, two,"],
        "parameters": {"do_sample": False, "max_new_tokens": 3}}})
    assert r.status_code == 200 and len(r.json()) == 2 and all("0" in x for x in r.json())
    r = httpx.post(llm_worker.url + "/score", json={"data": [1]}, timeout=10)
    assert r.status_code == 400 and "input_data" in r.json()["error"]["message"]
    # Azure's route names, same answers
    r = httpx.post(llm_worker.url + "/chat/completions", timeout=60,
                   json={"messages": QUESTION, "max_tokens": 2})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 2


def test_sixteen_concurrent_streams_all_complete(llm_worker: WorkerProc) -> None:
    async def one(client: openai.AsyncOpenAI, i: int) -> tuple[str, str | None, int]:
        text, finish, chunks = "", None, 0
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"Count to {i + 3}."}],
            max_tokens=16, temperature=0, stream=True)
        async for chunk in stream:
            chunks += 1
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
        return text, finish, chunks

    async def main() -> list[tuple[str, str | None, int]]:
        async with openai.AsyncOpenAI(base_url=llm_worker.url + "/v1", api_key="x",
                                      max_retries=0, timeout=300) as client:
            return await asyncio.gather(*(one(client, i) for i in range(16)))

    results = asyncio.run(main())
    assert len(results) == 16
    for text, finish, chunks in results:
        assert text and finish in ("stop", "length") and chunks >= 3


def test_a_client_gone_mid_stream_frees_its_sequence(llm_worker: WorkerProc,
                                                     client: openai.OpenAI) -> None:
    with httpx.stream("POST", llm_worker.url + "/v1/completions", timeout=60, json={
            "prompt": "Tell me everything about", "max_tokens": 4000, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                break   # one token arrived: leave while the worker is generating
    out = client.completions.create(model="m", prompt="1, 2, 3,", max_tokens=3, temperature=0)
    assert out.choices[0].text and out.usage is not None and out.usage.completion_tokens == 3
