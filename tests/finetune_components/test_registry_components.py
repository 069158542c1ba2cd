"""The built-in azureml registry's components: listed and shown like Azure's, read-only, and
refused clearly when a pipeline names one it does not have or asks for a Hub download."""

from __future__ import annotations

import json

import pytest

from ember.client.mlclient import MLClient
from ember.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from ember.specs.any_job import load_any_job_spec
from tests.finetune_components.conftest import Workspace, finetune_pipeline
from tests.test_cli import ember

BUILTINS = {"chat_completion_pipeline", "text_generation_pipeline", "chat_completion_finetune",
            "text_generation_finetune", "chat_completion_datapreprocess",
            "text_generation_datapreprocess", "model_prediction", "compute_metrics",
            "model_evaluation_pipeline", "rai_tabular_insight_constructor",
            "rai_tabular_explanation", "rai_tabular_erroranalysis", "rai_tabular_counterfactual",
            "rai_tabular_causal", "rai_tabular_insight_gather", "rai_tabular_score_card"}


def test_cli_lists_and_shows_the_registry_components(workspace: Workspace) -> None:
    r = ember(workspace.server, "component", "list", "--registry-name", "azureml", "-o", "json")
    assert r.returncode == 0, r.stderr
    listed = {c["name"]: c for c in json.loads(r.stdout)}
    assert set(listed) == BUILTINS
    assert listed["compute_metrics"]["type"] == "command"
    assert listed["compute_metrics"]["environment"] is None     # the server's Python

    # az ml component show --name chat_completion_pipeline --label latest --registry-name azureml
    r = ember(workspace.server, "component", "show", "--name", "chat_completion_pipeline",
              "--label", "latest", "--registry-name", "azureml", "-o", "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["type"] == "pipeline" and shown["version"] == "0.0.82"
    assert shown["inputs"]["learning_rate"]["default"] == pytest.approx(2e-5)
    assert shown["inputs"]["lora_alpha"]["default"] == 128
    assert shown["inputs"]["apply_lora"]["default"] == "false"
    assert shown["inputs"]["huggingface_id"]["optional"] is True
    assert set(shown["outputs"]) == {"pytorch_model_folder", "mlflow_model_folder"}
    assert "chat_completion_datapreprocess" in shown["description"]
    r = ember(workspace.server, "component", "show", "--name", "model_prediction",
              "--registry-name", "azureml", "--query", "outputs", "-o", "json")
    assert set(json.loads(r.stdout)) == {"predictions", "prediction_probabilities",
                                         "ground_truth", "performance_metadata"}

    with MLClient(endpoint=workspace.url, registry_name="azureml") as registry:
        assert registry.components.get("compute_metrics", version="0.0.1").name \
            == "compute_metrics"   # any version is Ember's one definition
        with pytest.raises(PermissionDeniedError):
            registry.components.create_or_update(registry.components.get("compute_metrics"))
    with MLClient(endpoint=workspace.url, registry_name="azureml-meta") as other:
        with pytest.raises(NotFoundError, match="Ember has one registry, 'azureml'"):
            other.components.list()


def test_an_unknown_registry_component_lists_the_known_ones(workspace: Workspace) -> None:
    spec = workspace.write("typo.yml", finetune_pipeline().replace(
        "components/chat_completion_pipeline/", "components/chat_completion_pipline/"))
    with pytest.raises(NotFoundError) as info:
        workspace.client.jobs.create_or_update(load_any_job_spec(spec, []))
    message = info.value.message
    assert "step 'finetune': component 'chat_completion_pipline' is not in the built-in " \
           "azureml registry (did you mean 'chat_completion_pipeline'?)" in message
    assert all(name in message for name in BUILTINS)
    r = ember(workspace.server, "job", "create", "-f", str(spec))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "chat_completion_pipline" in r.stderr


def test_a_huggingface_id_is_refused_before_anything_runs(workspace: Workspace) -> None:
    spec = workspace.write("hub.yml", finetune_pipeline().replace(
        "      pytorch_model_path: ${{parent.inputs.base_model}}\n",
        "      huggingface_id: gpt2\n"))
    before = len(workspace.client.jobs.list(max_results=1000))
    with pytest.raises(InvalidInputError) as info:
        workspace.client.jobs.create_or_update(load_any_job_spec(spec, []))
    assert info.value.message.startswith(
        "step 'finetune': huggingface_id 'gpt2': Ember does not download models from the "
        "Hugging Face Hub; give mlflow_model_path or pytorch_model_path instead")
    assert "azureml://registries/azureml/models/" in info.value.message
    assert len(workspace.client.jobs.list(max_results=1000)) == before
