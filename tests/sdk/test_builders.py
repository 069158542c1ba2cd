"""command(), components called outside a pipeline, and load_job for pipeline YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ember import Input, command, load_component, load_job
from ember.client.builders import CommandJob
from ember.client.dsl import ArgumentError
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.entities.pipelines import PipelineJob
from ember.errors import InvalidInputError
from tests.pipelines.conftest import PIPELINE


class _Uniform:
    """Stands in for a search-space distribution (ember.client.sweeps is another module)."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high


def test_component_outside_a_pipeline_is_a_command_job(project: Path) -> None:
    train = load_component(project / "components" / "train.yml")
    job = train(data=Input(type="uri_folder", path=project / "data"), lr=0.1)
    assert isinstance(job, Job) and isinstance(job, CommandJob)
    assert job.command == train.component.command
    assert job.code == str(project / "components" / "src")
    assert job.environment == "azureml:py311:1"
    assert job.inputs == {
        "data": JobInput(type="uri_folder", path=str(project / "data")),
        "epochs": JobInput(type="integer", value=3),
        "lr": JobInput(type="number", value=0.1),
    }
    assert job.outputs == {"model": JobOutput(type="uri_folder"),
                           "metrics_file": JobOutput(type="uri_file")}
    assert job.name == "" and job.compute == "local"


def test_component_job_optional_search_space_and_errors(project: Path) -> None:
    train = load_component(project / "components" / "train.yml")
    job = train(data=str(project / "data"), lr=_Uniform(0.01, 0.1))
    assert job.inputs["data"] == JobInput(type="uri_folder", path=str(project / "data"),
                                          mode="ro_mount")
    assert "lr" not in job.inputs and isinstance(job.search_space_inputs["lr"], _Uniform)
    assert train(data="azureml:d:1").inputs["lr"] == JobInput(type="number", optional=True)
    with pytest.raises(ArgumentError, match="component 'train' needs a value for required "
                                            "input 'data'"):
        train(epochs=4)
    with pytest.raises(InvalidInputError, match="input 'epochs' of component 'train' is "
                                                "integer, not 'four'"):
        train(data="azureml:d:1", epochs="four")


def test_command_keeps_distributions_aside() -> None:
    dist = _Uniform(0.0, 1.0)
    job = command(command="python train.py --lr ${{inputs.lr}} --n ${{inputs.n}}",
                  environment="azureml:py311:1", inputs={"lr": dist, "n": 3,
                                                         "data": Input(path="azureml:d:1")})
    assert isinstance(job, CommandJob) and isinstance(job, Job)
    assert job.environment == "py311:1"
    assert job.search_space_inputs == {"lr": dist}
    assert job.inputs == {"n": JobInput(type="integer", value=3),
                          "data": JobInput(type="uri_folder", path="azureml:d:1")}
    assert command(command="echo").search_space_inputs == {}


def test_load_job_dispatches_pipeline_yaml(project: Path) -> None:
    path = project / "pipeline.yml"
    path.write_text(textwrap.dedent(PIPELINE).lstrip("\n"), encoding="utf-8")
    job = load_job(path, overrides=["settings.force_rerun=true"])
    assert isinstance(job, PipelineJob)
    assert list(job.jobs) == ["prep", "train", "score"] and job.settings.force_rerun is True
    hello = project / "hello.yml"
    hello.write_text("command: echo hi\nenvironment: azureml:py311:1\n", encoding="utf-8")
    assert isinstance(load_job(hello), Job)
