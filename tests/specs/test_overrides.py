from __future__ import annotations

from typing import Any

import pytest

from ember.errors import SpecError
from ember.specs.overrides import apply_overrides, parse_scalar
from ember.specs.yamlio import load_yaml_text


@pytest.mark.parametrize(("text", "value"), [
    ("True", True), ("false", False), ("3", 3), ("0.1", 0.1), ("abc", "abc"),
    ("python train.py --x 1", "python train.py --x 1"), ("a: b", "a: b"), ("[1, 2]", "[1, 2]"),
    ("#x", "#x"), ("", None), ("null", None), ("'3'", "3"),
])
def test_values_are_yaml_scalars(text: str, value: Any) -> None:
    parsed = parse_scalar(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_sets_nested_and_creates_maps() -> None:
    data = load_yaml_text("limits:\n  timeout: 10\n", "job.yml")
    record: dict[str, str] = {}
    apply_overrides(data, ["limits.timeout=20", "environment_variables.X=1", "a.b.c=True"],
                    "job.yml", record=record)
    assert data["limits"]["timeout"] == 20
    assert data["environment_variables"] == {"X": 1}
    assert data["a"]["b"]["c"] is True
    assert record == {"limits.timeout": "limits.timeout=20",
                      "environment_variables.X": "environment_variables.X=1",
                      "a.b.c": "a.b.c=True"}


def test_value_may_contain_equals() -> None:
    data: dict[str, Any] = {}
    apply_overrides(data, ["command=python x.py --a=1"], "job.yml")
    assert data["command"] == "python x.py --a=1"


def test_indexes_existing_list() -> None:
    data = load_yaml_text("steps:\n  - a: 1\n  - a: 2\n", "p.yml")
    apply_overrides(data, ["steps.1.a=5"], "p.yml")
    assert data["steps"][1]["a"] == 5
    with pytest.raises(SpecError, match="not an index"):
        apply_overrides(data, ["steps.7.a=5"], "p.yml")


@pytest.mark.parametrize("bad", ["a.b", "=3", "a..b=1", ".a=1", "a. b=1"])
def test_bad_override_is_spec_error(bad: str) -> None:
    with pytest.raises(SpecError) as info:
        apply_overrides({}, [bad], "job.yml")
    assert bad in str(info.value)
    assert "job.yml" in str(info.value)


def test_cannot_descend_into_a_scalar() -> None:
    data = load_yaml_text("command: echo\n", "job.yml")
    with pytest.raises(SpecError, match="'command' is a string, not a mapping"):
        apply_overrides(data, ["command.x=1"], "job.yml")
