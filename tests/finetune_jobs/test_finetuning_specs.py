"""``type: finetuning`` YAML → FineTuningJob: Azure's examples load unchanged, every bad input is
a SpecError naming file, line and key, and the SDK factory builds the same job."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from ember.client.builders import load_job
from ember.entities.codec import from_plain, to_plain
from ember.entities.finetuning import CustomModelFineTuningJob, FineTuningJob, ModelOutput
from ember.entities.jobs import JobInput
from ember.errors import SpecError
from ember.finetuning import FineTuningTaskType, create_finetuning_job
from ember.specs.any_job import load_any_job_spec
from ember.specs.finetuning import check_finetuning, load_finetuning_spec
from ember.specs.jobs import SpecNotice

CATALOG = "azureml://registries/azureml/models/SmolLM2-135M-Instruct/versions/1"

AZURE_EXAMPLE = f"""\
$schema: http://azureml/sdk-2-0/FineTuningJob.json
type: finetuning
name: ft-smollm
experiment_name: finetuning-demo
display_name: SmolLM2 on my chats
description: LoRA on the catalog model
tags: {{team: llm}}
properties: {{source: docs}}
task: chat_completion
model_provider: custom
model: {{path: "{CATALOG}", type: mlflow_model}}
training_data: ./train.jsonl
validation_data: {{type: uri_file, path: ./val.jsonl}}
hyperparameters: {{num_train_epochs: "1", learning_rate: "0.0002", max_steps: "20"}}
outputs: {{registered_model: {{name: my-ft-model, type: mlflow_model}}}}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "train.jsonl").write_text('{"messages": []}\n')
    (tmp_path / "val.jsonl").write_text('{"messages": []}\n')
    return tmp_path


def write(folder: Path, text: str, name: str = "ft.yml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_azure_example_loads_as_a_custom_model_job(folder: Path) -> None:
    job = load_any_job_spec(write(folder, AZURE_EXAMPLE))
    assert type(job) is CustomModelFineTuningJob and isinstance(job, FineTuningJob)
    assert job == CustomModelFineTuningJob(
        name="ft-smollm", experiment_name="finetuning-demo", display_name="SmolLM2 on my chats",
        description="LoRA on the catalog model", tags={"team": "llm"},
        properties={"source": "docs"}, task="chat_completion", model_provider="custom",
        model=JobInput(type="mlflow_model", path=CATALOG),
        training_data=JobInput(type="uri_file", path=str(folder / "train.jsonl")),
        validation_data=JobInput(type="uri_file", path=str(folder / "val.jsonl")),
        hyperparameters={"num_train_epochs": "1", "learning_rate": "0.0002", "max_steps": "20"},
        outputs={"registered_model": ModelOutput(type="mlflow_model", name="my-ft-model")})
    assert job.registered_model_name == "my-ft-model"
    # the SDK's load_job and the plain form (what the server receives) agree
    assert load_job(folder / "ft.yml") == job
    assert from_plain(CustomModelFineTuningJob, to_plain(job)) == job


@pytest.mark.parametrize("model, data, expected_model, expected_data", [
    ("azureml:my-llama:3", "azureml:chats:2", JobInput(type="mlflow_model",
                                                      path="azureml:my-llama:3"),
     JobInput(type="uri_file", path="azureml:chats:2")),
    ("{path: 'azureml:my-llama@latest', type: custom_model}",
     "{type: uri_file, path: 'azureml://datastores/workspaceblobstore/paths/d/t.jsonl'}",
     JobInput(type="custom_model", path="azureml:my-llama@latest"),
     JobInput(type="uri_file",
              path="azureml://datastores/workspaceblobstore/paths/d/t.jsonl")),
    ("azureml://registries/azureml/models/SmolLM2-135M-Instruct/labels/latest",
     "https://example.com/train.jsonl",
     JobInput(type="mlflow_model",
              path="azureml://registries/azureml/models/SmolLM2-135M-Instruct/labels/latest"),
     JobInput(type="uri_file", path="https://example.com/train.jsonl")),
])
def test_model_and_data_forms(folder: Path, model: str, data: str, expected_model: JobInput,
                              expected_data: JobInput) -> None:
    job = load_finetuning_spec(write(folder, f"""\
        type: finetuning
        task: text_completion
        model: {model}
        training_data: {data}
        hyperparameters: {{max_steps: 20, learning_rate: 2.0e-4, lora_r: "8"}}
        """))
    assert job.model == expected_model and job.training_data == expected_data
    assert job.validation_data is None and job.outputs == {}
    # numbers are taken as their text, as Azure's strings
    assert job.hyperparameters == {"max_steps": "20", "learning_rate": "0.0002", "lora_r": "8"}


def test_compute_resources_and_queue_settings_are_kept_with_a_notice(folder: Path) -> None:
    path = write(folder, AZURE_EXAMPLE + textwrap.dedent("""\
        compute: lowpri-a100
        resources: {instance_types: [Standard_NC96ads_A100_v4]}
        queue_settings: {job_tier: Spot}
        """))
    with pytest.warns(SpecNotice) as caught:
        job = load_finetuning_spec(path)
    notices = [str(w.message) for w in caught]
    assert notices == [
        f"{path}:16: compute 'lowpri-a100' is kept but not used: a fine-tuning job runs on "
        "this machine (local compute)",
        f"{path}:17: resources is kept but not used: local compute has no VM sizes; the job "
        "uses this machine's CPU or GPU",
        f"{path}:18: queue_settings is kept but not used: local compute has no job tiers or "
        "priorities"]
    assert job.compute == "lowpri-a100" and job.queue_settings == {"job_tier": "Spot"}
    assert job.resources == {"instance_types": ["Standard_NC96ads_A100_v4"]}


BASE = """\
type: finetuning
task: chat_completion
model: {path: "azureml:my-llama:1", type: custom_model}
training_data: ./train.jsonl
"""


@pytest.mark.parametrize("text, line, key, message", [
    (BASE + "hyperparameter: {max_steps: '4'}\n", 5, "hyperparameter",
     "unknown key 'hyperparameter' (did you mean 'hyperparameters'?)"),
    (BASE.replace("chat_completion", "text_classification"), 2, "task",
     "task: 'text_classification' is an Azure fine-tuning task that Ember does not run; "
     "Ember fine-tunes chat_completion and text_completion"),
    (BASE.replace("chat_completion", "chat_complete"), 2, "task",
     "task: 'chat_complete' is not a fine-tuning task; Ember fine-tunes chat_completion and "
     "text_completion (did you mean 'chat_completion'?)"),
    (BASE.replace("task: chat_completion\n", ""), 1, "task", "task: is required"),
    (BASE.replace('model: {path: "azureml:my-llama:1", type: custom_model}\n', ""), 1,
     "model", "model: is required"),
    (BASE.replace("training_data: ./train.jsonl\n", ""), 1, "training_data",
     "training_data: is required"),
    (BASE.replace("custom_model", "triton_model"), 3, "model.type",
     "model.type: 'triton_model' is not one of: mlflow_model, custom_model"),
    (BASE.replace('"azureml:my-llama:1"', "./my-llama"), 3, "model.path",
     "model.path: './my-llama' is not a model reference"),
    (BASE.replace("./train.jsonl", "./missing.jsonl"), 4, "training_data",
     "training_data: path not found: "),
    (BASE.replace("./train.jsonl", "{type: uri_folder, path: ./train.jsonl}"), 4,
     "training_data.type", "training_data.type: 'uri_folder' is not supported: the data is "
                           "one jsonl file, type uri_file"),
    (BASE + "validation_data: {type: uri_file}\n", 5, "validation_data.path",
     "validation_data.path: is required"),
    (BASE + "hyperparameters:\n  merge_lora_weights: true\n", 6,
     "hyperparameters.merge_lora_weights",
     "hyperparameters.merge_lora_weights: must be a string or a number, not a boolean "
     "(Azure passes hyperparameters as strings: write merge_lora_weights: \"true\")"),
    (BASE + "hyperparameters:\n  lora_r: [8]\n", 6, "hyperparameters.lora_r",
     "hyperparameters.lora_r: must be a string or a number, not a list"),
    (BASE + "outputs:\n  trained_model: {type: mlflow_model}\n", 6, "outputs.trained_model",
     "outputs.trained_model: is not an output of a fine-tuning job"),
    (BASE + "outputs: {registered_model: {name: 'bad name', type: custom_model}}\n", 5,
     "outputs.registered_model.name", "outputs.registered_model.name: 'bad name' is not a "
                                      "valid model name"),
    (BASE + "outputs: {registered_model: {type: onnx}}\n", 5, "outputs.registered_model.type",
     "outputs.registered_model.type: 'onnx' is not one of: mlflow_model, custom_model"),
    (BASE + "model_provider: azure_open_ai\n", 5, "model_provider",
     "model_provider: azure_open_ai fine-tunes in an Azure OpenAI resource, which Ember is not"),
    (BASE + "resources: {instance_type: big}\n", 5, "resources.instance_type",
     "unknown key 'resources.instance_type' (did you mean 'instance_types'?)"),
])
def test_bad_inputs_name_file_line_and_key(folder: Path, text: str, line: int, key: str,
                                           message: str) -> None:
    path = write(folder, text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecNotice)
        with pytest.raises(SpecError) as info:
            load_any_job_spec(path)
    err = info.value
    assert (err.details["file"], err.details["line"], err.details["key"]) == \
        (str(path), line, key)
    assert err.message.startswith(f"{path}:{line}: {message}")


def test_overrides_set_fields_and_are_named_in_errors(folder: Path) -> None:
    path = write(folder, BASE)
    job = load_finetuning_spec(path, ["hyperparameters.max_steps=4", "task=TextCompletion"])
    assert job.hyperparameters == {"max_steps": "4"} and job.task == "text_completion"
    with pytest.raises(SpecError) as info:
        load_finetuning_spec(path, ["task=token_classification"])
    assert "set by --set task=token_classification" in info.value.message


def test_sdk_factory_builds_what_the_yaml_builds(folder: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    from_yaml = load_any_job_spec(write(folder, AZURE_EXAMPLE))
    built = create_finetuning_job(
        model=CATALOG, task=FineTuningTaskType.CHAT_COMPLETION, training_data="train.jsonl",
        validation_data="val.jsonl", output_model_name_prefix="my-ft-model",
        hyperparameters={"num_train_epochs": "1", "learning_rate": "0.0002", "max_steps": 20},
        name="ft-smollm", experiment_name="finetuning-demo",
        display_name="SmolLM2 on my chats", description="LoRA on the catalog model",
        tags={"team": "llm"}, properties={"source": "docs"})
    assert built == from_yaml
    with pytest.warns(SpecNotice):
        placed = create_finetuning_job(model=CATALOG, task="chat_completion",
                                       training_data="train.jsonl",
                                       output_model_name_prefix="m", compute="lowpri-a100",
                                       instance_types=["Standard_NC96ads_A100_v4"],
                                       job_tier="Spot")
    assert placed.compute == "lowpri-a100" and placed.queue_settings == {"job_tier": "Spot"}
    assert placed.resources == {"instance_types": ["Standard_NC96ads_A100_v4"]}


@pytest.mark.parametrize("kwargs, key, message", [
    ({"task": FineTuningTaskType.IMAGE_CLASSIFICATION}, "task",
     "task: 'image_classification' is an Azure fine-tuning task that Ember does not run"),
    ({"model": "my-llama"}, "model.path", "model.path: 'my-llama' is not a model reference"),
    ({"hyperparameters": {"merge_lora_weights": True}}, "hyperparameters.merge_lora_weights",
     "hyperparameters.merge_lora_weights: must be a string, not a boolean"),
    ({"output_model_name_prefix": "bad/name"}, "outputs.registered_model.name",
     "outputs.registered_model.name: 'bad/name' is not a valid model name"),
])
def test_sdk_factory_refuses_what_the_yaml_refuses(kwargs: dict[str, object], key: str,
                                                   message: str) -> None:
    args: dict[str, object] = {"model": CATALOG, "task": "chat_completion",
                               "training_data": "azureml:chats:1",
                               "output_model_name_prefix": "m", **kwargs}
    with pytest.raises(SpecError) as info:
        create_finetuning_job(**args)  # type: ignore[arg-type]
    assert info.value.details["key"] == key
    assert info.value.message.startswith(f"create_finetuning_job(): {message}")


def test_check_refuses_a_job_edited_after_it_was_built() -> None:
    job = create_finetuning_job(model=CATALOG, task="chat_completion",
                                training_data="azureml:chats:1", output_model_name_prefix="m")
    job.validation_data = JobInput(type="mltable", path="azureml:chats:2")
    with pytest.raises(SpecError, match="validation_data.type: 'mltable' is not supported"):
        check_finetuning(job)
