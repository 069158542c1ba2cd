"""The one entity ⇄ plain-data codec: every entity round-trips, and the entity alone decides
fields and defaults (unknown keys ignored, nulls for non-optional fields take the default)."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass

import pytest

import ember.entities
from ember.entities.batch_endpoints import BatchDeployment, BatchSettings, RetrySettings
from ember.entities.codec import from_plain, to_plain
from ember.entities.components import Component, ComponentInput
from ember.entities.online_endpoints import CodeConfiguration, OnlineDeployment, RequestSettings
from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobInput, JobOutput, StatusChange
from ember.entities.models import Model


def _entities() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(ember.entities.__path__):
        module = importlib.import_module(f"ember.entities.{info.name}")
        found += [obj for obj in vars(module).values() if isinstance(obj, type)
                  and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__]
    return found


SAMPLES = [
    Job(name="j", command="python t.py", environment=Environment(image="python:3.11"),
        inputs={"x": JobInput(type="integer", value=3), "d": JobInput(type="uri_folder",
                                                                       path="azureml:d:1")},
        outputs={"m": JobOutput(type="mlflow_model")}, tags={"a": "b"},
        status_history=[StatusChange("Queued", 1.0, "why")], definition={"jobs": {}}),
    Job(name="k", command="true", environment="azureml:env:2"),
    Component(name="c", command="echo", inputs={"lr": ComponentInput(type="number",
                                                                      default=0.1)},
              additional_includes=["../shared"]),
    OnlineDeployment(name="blue", endpoint_name="ep", model="azureml:m:1",
                     code_configuration=CodeConfiguration(code="codes/x", scoring_script="s.py"),
                     environment=Environment(conda_file={"dependencies": []}),
                     request_settings=RequestSettings(request_timeout_ms=3000)),
    BatchDeployment(name="b", endpoint_name="be", model=Model(name="m", version=2),
                    settings=BatchSettings(retry_settings=RetrySettings(max_retries=5))),
]


@pytest.mark.parametrize("entity", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(entity: object) -> None:
    assert from_plain(type(entity), to_plain(entity)) == entity


def test_every_entity_class_can_be_decoded() -> None:
    classes = _entities()
    assert len(classes) > 30
    for cls in classes:
        try:
            instance = cls()
        except TypeError:
            continue   # required fields: covered by the samples
        assert from_plain(cls, to_plain(instance)) == instance, cls


def test_unknown_keys_are_ignored_and_null_means_the_default() -> None:
    job = from_plain(Job, {"name": "j", "command": "c", "from_a_newer_server": 1,
                           "tags": None, "inputs": None, "timeout": None})
    assert job.tags == {} and job.inputs == {} and job.timeout is None
    comp = from_plain(Component, {"name": "c", "command": "c", "additional_includes": None})
    assert comp.additional_includes == []


def test_entities_already_built_pass_through() -> None:
    env = Environment(image="i")
    assert from_plain(Job, {"name": "j", "command": "c", "environment": env}).environment is env


@dataclass
class _A:
    x: int = 0


@dataclass
class _B:
    y: int = 0


@dataclass
class _Holder:
    either: _A | _B | None = None


def test_a_union_of_several_entities_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot tell"):
        from_plain(_Holder, {"either": {"x": 1}})
