"""Model references as pipeline inputs (engine/_model_inputs.py), against a stand-in model
registry: which inputs are models, where their files are, what type an untyped one takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from ember.engine._model_inputs import resolve_model_inputs, type_from_consumers
from ember.entities.components import Component, ComponentInput
from ember.entities.jobs import JobInput
from ember.entities.models import Model
from ember.entities.pipelines import Binding, PipelineJob, PipelineStep
from ember.errors import NotFoundError
from ember.services.models import ModelService


class Registry:
    """The two ModelService methods the resolution uses, over a dict of models."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.models = {"azureml:tiny:1": Model(name="tiny", version=1, type="custom_model"),
                       "azureml://registries/azureml/models/Smol/labels/latest":
                           Model(name="Smol", version=1, type="custom_model",
                                 registry="azureml")}

    def resolve(self, workspace: str, reference: str) -> Model:
        if reference not in self.models:
            raise NotFoundError(f"model {reference} not found")
        return self.models[reference]

    def local_path(self, workspace: str, model: Model) -> Path:
        return self.root / model.name


def test_model_references_become_their_files_and_untyped_ones_their_consumers_type(
        tmp_path: Path) -> None:
    registry = cast(ModelService, cast(Any, Registry(tmp_path)))
    inputs = {
        "typed": JobInput(type="mlflow_model", path="azureml:tiny:1", mode="ro_mount"),
        "catalog": JobInput(type="uri_folder",   # Azure's {path: azureml://registries/...}
                            path="azureml://registries/azureml/models/Smol/labels/latest"),
        "data": JobInput(type="uri_folder", path="azureml:tiny:1"),     # a data asset
        "store": JobInput(type="uri_file", path="azureml://datastores/x/paths/a.jsonl"),
        "lr": JobInput(type="number", value=0.1),
    }
    untyped = resolve_model_inputs(registry, "ws", inputs)
    assert untyped == ["catalog"]
    assert (inputs["typed"].type, inputs["typed"].path, inputs["typed"].mode) == \
        ("mlflow_model", str(tmp_path / "tiny"), "direct")
    assert (inputs["catalog"].type, inputs["catalog"].path) == \
        ("custom_model", str(tmp_path / "Smol"))
    assert inputs["data"].path == "azureml:tiny:1" and inputs["store"].type == "uri_file"

    consumer = Component(name="ft", command="", inputs={
        "mlflow_model_path": ComponentInput(type="mlflow_model", optional=True)})
    pipeline = PipelineJob(inputs=inputs, jobs={"ft": PipelineStep(
        name="ft", kind="component", component=consumer,
        inputs={"mlflow_model_path": Binding(parent_input="catalog")})})
    type_from_consumers(pipeline, untyped)
    assert pipeline.inputs["catalog"].type == "mlflow_model"

    with pytest.raises(NotFoundError, match="^input 'm': model azureml:nope@latest"):
        resolve_model_inputs(registry, "ws", {"m": JobInput(type="custom_model",
                                                            path="azureml:nope")})
