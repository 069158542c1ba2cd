"""@pipeline + load_component build the same PipelineJob the YAML loader builds."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from ember import Input, Output, dsl, load_component
from ember.client.dsl import ComponentFunc, pipeline
from ember.entities.pipelines import Binding, PipelineJob, PipelineSettings
from ember.specs.pipelines import check_pipeline_graph, load_pipeline_spec
from tests.pipelines.conftest import PIPELINE


def _components(project: Path) -> tuple[ComponentFunc, ComponentFunc, ComponentFunc]:
    load = [load_component(project / "components" / f"{n}.yml") for n in ("prep", "train",
                                                                          "score")]
    return load[0], load[1], load[2]


def test_three_steps_equal_the_yaml_pipeline(project: Path) -> None:
    prep, train, score = _components(project)

    @pipeline(display_name="three-steps", experiment_name="pipes",
              default_compute="azureml:cpu-cluster")
    def three_steps(raw_data: Any, epochs: Any) -> dict[str, Any]:
        cleaned = prep(raw=raw_data)
        trained = train(data=cleaned.outputs.clean, epochs=epochs, lr=0.01)
        trained.compute = "azureml:gpu-cluster"
        scored = score(model=trained.outputs.model, data=cleaned.outputs.clean)
        return {"final_scores": scored.outputs.scores}

    built = three_steps(raw_data=Input(type="uri_folder", path=project / "data"), epochs=5)
    built.outputs["final_scores"].mode = "upload"
    path = project / "pipeline.yml"
    path.write_text(textwrap.dedent(PIPELINE).lstrip("\n"), encoding="utf-8")
    loaded = load_pipeline_spec(path)

    assert isinstance(built, PipelineJob)
    assert list(built.jobs) == list(loaded.jobs) == ["prep", "train", "score"]
    for name in loaded.jobs:
        assert built.jobs[name] == loaded.jobs[name], name
    assert built.inputs == loaded.inputs
    assert built.outputs == loaded.outputs
    assert built.settings == loaded.settings
    assert built == loaded
    assert built.jobs["train"].inputs["data"] == Binding(step="prep", step_output="clean")
    assert built.jobs["prep"].inputs["raw"] == Binding(parent_input="raw_data")
    assert built.jobs["score"].outputs["scores"] == Binding(parent_output="final_scores")
    assert check_pipeline_graph(built, "sdk") == ["prep", "train", "score"]


def test_repeats_get_numbered_names_and_node_edits_land(project: Path) -> None:
    prep, train, _ = _components(project)

    @dsl.pipeline
    def twice(raw: Any) -> dict[str, Any]:
        first = prep(raw=raw)
        second = prep(raw=first.outputs.clean)
        third = prep(raw=second.outputs.clean)
        third.name = "final_prep"
        third.compute = "azureml:big"
        third.environment_variables["MODE"] = "fast"
        third.display_name = "last one"
        model = train(data=third.outputs.clean)
        return {"model": model.outputs.model}

    job = twice(raw=Input(path=project / "data"))
    assert list(job.jobs) == ["prep", "prep_2", "final_prep", "train"]
    assert job.jobs["prep_2"].inputs["raw"] == Binding(step="prep", step_output="clean")
    assert job.jobs["train"].inputs["data"] == Binding(step="final_prep", step_output="clean")
    final = job.jobs["final_prep"]
    assert final.compute == "azureml:big" and job.step_compute(final) == "azureml:big"
    assert final.environment_variables == {"MODE": "fast"}
    assert final.display_name == "last one"
    assert job.jobs["prep"].compute is None
    assert job.display_name == "twice"
    assert job.outputs["model"].type == "uri_folder"


def test_settings_and_metadata(project: Path) -> None:
    prep, _, _ = _components(project)

    @pipeline(name="nightly", experiment_name="exp", default_compute="cpu",
              compute="azureml:fallback", continue_on_step_failure=True, force_rerun=True,
              default_datastore="azureml:blobs", tags={"team": "ml"})
    def nightly(raw: Any) -> None:
        """Clean the raw data."""
        prep(raw=raw)

    job = nightly(Input(path=project / "data"))
    assert job.settings == PipelineSettings(default_compute="cpu", default_datastore="blobs",
                                            continue_on_step_failure=True, force_rerun=True)
    assert job.compute == "azureml:fallback" and job.name == ""
    assert job.display_name == "nightly" and job.description == "Clean the raw data."
    assert job.experiment_name == "exp" and job.tags == {"team": "ml"}
    assert job.outputs == {} and job.jobs["prep"].outputs == {}
    job.settings.force_rerun = False
    assert job.settings.force_rerun is False

    @pipeline(description="")
    def plain(raw: Any) -> None:
        prep(raw=raw)

    assert plain(raw=Input(path=project / "data")).settings == PipelineSettings()


def test_parameters_inputs_and_outputs(project: Path) -> None:
    prep, train, score = _components(project)

    @pipeline
    def flow(raw: Any, epochs: int = 4, lr: Any = None, threshold: float = 0.7,
             flag: bool = True) -> dict[str, Any]:
        cleaned = prep(raw=raw)
        trained = train(data=cleaned.outputs.clean, epochs=epochs, lr=lr)
        trained.outputs.metrics_file = Output(type="uri_file", mode="upload")
        scored = score(model=trained.outputs.model, data=str(project / "data"),
                       threshold=threshold)
        scored.inputs.threshold = 1      # rebinds; an int fits a number input
        trained.outputs.model.mode = "upload"
        return {"model": trained.outputs.model, "scores": scored.outputs.scores}

    job = flow(Input(type="uri_folder", path=project / "data"), epochs=7)
    assert job.inputs["raw"].mode == "ro_mount"
    assert job.inputs["epochs"].type == "integer" and job.inputs["epochs"].value == 7
    assert job.inputs["threshold"].type == "number"
    assert job.inputs["flag"].type == "boolean"
    assert "lr" not in job.inputs and "lr" not in job.jobs["train"].inputs
    assert job.jobs["train"].inputs["epochs"] == Binding(parent_input="epochs")
    assert job.jobs["train"].outputs == {
        "metrics_file": Binding(type="uri_file", mode="upload"),
        "model": Binding(parent_output="model"),
    }
    assert job.outputs["model"].mode == "upload" and job.outputs["model"].type == "uri_folder"
    assert job.outputs["scores"].type == "uri_file" and job.outputs["scores"].mode == "rw_mount"
    score_step = job.jobs["score"]
    assert score_step.inputs["data"] == Binding(path=str(project / "data"), type="uri_folder")
    assert score_step.inputs["threshold"] == Binding(literal=1, type="number")


def test_literal_types_follow_the_component_input(project: Path) -> None:
    _, train, _ = _components(project)

    @pipeline
    def typed() -> None:
        node = train(data=Input(path="azureml:raw:1"), epochs=3, lr=2)
        assert node.inputs.lr == 2 and node.inputs.epochs == 3

    job = typed()
    assert job.jobs["train"].inputs["lr"] == Binding(literal=2, type="number")
    assert job.jobs["train"].inputs["epochs"] == Binding(literal=3, type="integer")
    assert job.jobs["train"].inputs["data"] == Binding(path="azureml:raw:1", type="uri_folder")


@pytest.mark.parametrize("use_parens", [True, False])
def test_decorator_with_and_without_arguments(project: Path, use_parens: bool) -> None:
    prep, _, _ = _components(project)

    def body(raw: Any) -> None:
        prep(raw=raw)

    wrapped = pipeline()(body) if use_parens else pipeline(body)
    assert wrapped.__name__ == "body"
    assert list(wrapped(raw=Input(path=project / "data")).jobs) == ["prep"]
