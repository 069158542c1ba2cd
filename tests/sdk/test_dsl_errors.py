"""Each mistake in a @pipeline function fails at build time, naming the step/component and port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember import Input, load_component
from ember.client.dsl import ArgumentError, UnknownOutputError, pipeline
from ember.errors import InvalidInputError, SpecError


def _load(project: Path, name: str) -> Any:
    return load_component(project / "components" / f"{name}.yml")


def test_unknown_input_name(project: Path) -> None:
    train = _load(project, "train")

    @pipeline
    def bad() -> None:
        train(data=Input(path="azureml:raw:1"), epoch=3)

    with pytest.raises(TypeError) as info:
        bad()
    assert isinstance(info.value, InvalidInputError)
    assert str(info.value) == ("component 'train' has no input 'epoch'; declared inputs: "
                               "data, epochs, lr")
    with pytest.raises(ArgumentError, match="component 'train' has no input 'epoch'"):
        train(epoch=3)


def test_unknown_input_name_on_rebinding(project: Path) -> None:
    prep = _load(project, "prep")

    @pipeline
    def bad() -> None:
        node = prep(raw=Input(path="azureml:raw:1"))
        node.inputs.rawdata = "x"

    with pytest.raises(ArgumentError, match="component 'prep' has no input 'rawdata'"):
        bad()


def test_unknown_output_name(project: Path) -> None:
    prep, train = _load(project, "prep"), _load(project, "train")

    @pipeline
    def bad() -> None:
        cleaned = prep(raw=Input(path="azureml:raw:1"))
        train(data=cleaned.outputs.cleaned)

    with pytest.raises(AttributeError) as info:
        bad()
    assert isinstance(info.value, UnknownOutputError)
    assert str(info.value) == ("step 'prep' (component 'prep') has no output 'cleaned'; "
                               "declared outputs: clean")


def test_missing_required_pipeline_parameter(project: Path) -> None:
    prep = _load(project, "prep")

    @pipeline
    def needs_raw(raw: Any, note: str = "x") -> None:
        prep(raw=raw)

    with pytest.raises(ArgumentError, match="pipeline '.*needs_raw' needs a value for "
                                            "parameter 'raw'"):
        needs_raw(note="y")
    with pytest.raises(ArgumentError, match="needs_raw'.*unexpected keyword argument 'rwa'"):
        needs_raw(rwa=1)


def test_unbound_required_component_input(project: Path) -> None:
    train = _load(project, "train")

    @pipeline
    def unbound() -> None:
        train(epochs=3)

    with pytest.raises(SpecError) as info:
        unbound()
    err = info.value
    assert err.key == "jobs.train.inputs.data"
    assert err.file is not None and err.file.endswith("unbound")
    assert ("required input 'data' of step 'train' (component 'train') is not bound"
            in str(err))


def test_type_mismatch_caught_by_the_graph_check(project: Path) -> None:
    train, score = _load(project, "train"), _load(project, "score")

    @pipeline
    def mismatched() -> None:
        scored = score(model=Input(path="azureml:m:1"), data=Input(path="azureml:d:1"))
        train(data=Input(path="azureml:d:1"), epochs=scored.outputs.scores)

    with pytest.raises(SpecError) as info:
        mismatched()
    assert info.value.key == "jobs.train.inputs.epochs"
    assert ("type mismatch: output 'scores' of step 'score' is uri_file, but input 'epochs' "
            "of step 'train' is integer") in str(info.value)


def test_literal_type_mismatch_and_range(project: Path) -> None:
    train = _load(project, "train")

    @pipeline
    def wrong(epochs: Any = "many") -> None:
        train(data=Input(path="azureml:d:1"), epochs=epochs)

    with pytest.raises(SpecError, match="type mismatch: pipeline input 'epochs' is string, but "
                                        "input 'epochs' of step 'train' is integer"):
        wrong()

    @pipeline
    def too_many() -> None:
        train(data=Input(path="azureml:d:1"), epochs=100)

    with pytest.raises(SpecError, match=r"jobs\.train\.inputs\.epochs: 100 is greater than max"):
        too_many()


def test_nested_pipeline_functions_are_refused(project: Path) -> None:
    prep = _load(project, "prep")

    @pipeline
    def inner() -> None:
        prep(raw=Input(path="azureml:d:1"))

    @pipeline
    def outer() -> None:
        inner()

    with pytest.raises(InvalidInputError, match="nested @pipeline functions are not supported"):
        outer()


def test_other_mistakes_are_named(project: Path) -> None:
    prep = _load(project, "prep")

    @pipeline
    def returns_node() -> Any:
        return {"out": prep(raw=Input(path="azureml:d:1"))}

    with pytest.raises(InvalidInputError, match="output 'out' must be a step output"):
        returns_node()

    @pipeline
    def same_name() -> None:
        prep(raw=Input(path="azureml:d:1"))
        prep(raw=Input(path="azureml:d:1")).name = "prep"

    with pytest.raises(InvalidInputError, match="two steps are named 'prep'"):
        same_name()

    @pipeline
    def positional() -> None:
        prep(Input(path="azureml:d:1"))

    with pytest.raises(ArgumentError, match="component 'prep' takes keyword inputs only"):
        positional()

    with pytest.raises(ArgumentError, match=r"\*args and \*\*kwargs are not supported"):
        pipeline(lambda **kw: None)
