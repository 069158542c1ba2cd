from __future__ import annotations

from typing import Any

import pytest

from ember.entities.jobs import JobInput, JobOutput
from ember.errors import InvalidInputError, SpecError
from ember.specs.expressions import find_references, render_command, validate_command

TRAIN = ("python train.py --data ${{inputs.data}} $[[--max_epochs ${{inputs.max_epochs}}]] "
         "--out ${{ outputs.model }}")
INPUTS = {"data": JobInput(type="uri_folder", path="/d"),
          "max_epochs": JobInput(type="integer", optional=True),
          "lr": JobInput(type="number", value=0.1)}
OUTPUTS = {"model": JobOutput()}


def test_find_references_tolerates_spaces() -> None:
    command = "a ${{inputs.x}} ${{ outputs.y }} ${{search_space.h}} ${{inputs.x}} ${{name}}"
    assert find_references(command) == [("inputs", "x"), ("outputs", "y"),
                                         ("search_space", "h"), ("inputs", "x")]


def test_render_optional_segment_both_ways() -> None:
    with_value = render_command(TRAIN, {"data": "/mnt/d", "max_epochs": "5"}, {"model": "/o"})
    assert with_value == "python train.py --data /mnt/d --max_epochs 5 --out /o"
    without = render_command(TRAIN, {"data": "/mnt/d", "max_epochs": None}, {"model": "/o"})
    assert without == "python train.py --data /mnt/d  --out /o"
    missing = render_command(TRAIN, {"data": "/mnt/d"}, {"model": "/o"})
    assert missing == without


def test_render_inserts_raw_values_and_search_space() -> None:
    out = render_command("echo ${{inputs.s}} ${{search_space.lr}} ${{inputs.n}}",
                         {"s": "a b; c", "n": 3}, {}, {"lr": "0.5"})
    assert out == "echo a b; c 0.5 3"


def test_render_keeps_plain_double_brackets() -> None:
    command = "[[ -d ${{inputs.d}} ]] && python -c 'print([[1],[2]])'"
    assert render_command(command, {"d": "/x"}, {}) == \
        "[[ -d /x ]] && python -c 'print([[1],[2]])'"


def test_render_segment_with_some_values() -> None:
    command = "run $[[--a ${{inputs.a}} --b ${{inputs.b}}]]"
    assert render_command(command, {"a": "1"}, {}) == "run --a 1 --b "
    assert render_command(command, {}, {}) == "run "


@pytest.mark.parametrize(("inputs", "outputs"), [({}, {"model": "/o"}), ({"data": "/d"}, {})])
def test_render_missing_value_is_invalid_input(inputs: dict[str, Any],
                                               outputs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="no value"):
        render_command(TRAIN, inputs, outputs)


def test_validate_accepts_good_command() -> None:
    validate_command(TRAIN + " --lr ${{inputs.lr}}", INPUTS, OUTPUTS, "job.yml", 3)
    # a required input inside $[[ ]] is tolerated
    validate_command("x $[[--lr ${{inputs.lr}}]]", INPUTS, OUTPUTS, "job.yml", 3)


def _error(command: str, **kw: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        validate_command(command, INPUTS, OUTPUTS, "job.yml", 7, **kw)
    assert "job.yml:7:" in str(info.value)
    assert info.value.key == "command"
    return info.value


def test_undeclared_input_suggests_nearest() -> None:
    err = _error("python x.py --data ${{inputs.dat}}")
    assert "undeclared input 'dat'" in str(err)
    assert "did you mean 'data'?" in str(err)


def test_undeclared_output() -> None:
    assert "did you mean 'model'?" in str(_error("x ${{outputs.modle}}"))


def test_optional_input_outside_segment() -> None:
    err = _error("python x.py --max_epochs ${{inputs.max_epochs}}")
    assert "optional input 'max_epochs'" in str(err)
    assert "$[[" in str(err)


@pytest.mark.parametrize(("command", "fragment"), [
    ("x $[[--a $[[--b ${{inputs.max_epochs}}]]]]", "nested"),
    ("x $[[--a ${{inputs.max_epochs}}", "unclosed '$[['"),
    ("x $[[--a ${{inputs.max_epochs}}]] ]]", "without a matching"),
    ("x ${{inputs.data", "unclosed '${{'"),
    ("x ${{parent.inputs.data}}", "unsupported expression"),
    ("x ${{inputs.}}", "unsupported expression"),
    ("x ${{search_space.lr}}", "sweep trial"),
    ("x $[[--flag]]", "must reference an optional input"),
    ("python x.py \\\n  --a 1", "backslash"),
    ("   ", "non-empty"),
])
def test_malformed_templates(command: str, fragment: str) -> None:
    assert fragment in str(_error(command))


def test_search_space_names_checked_when_given() -> None:
    validate_command("x ${{search_space.lr}}", {}, {}, "s.yml", 1, search_space={"lr"})
    with pytest.raises(SpecError, match="did you mean 'lr'"):
        validate_command("x ${{search_space.lr2}}", {}, {}, "s.yml", 1, search_space={"lr"})


def test_non_string_command() -> None:
    with pytest.raises(SpecError, match="non-empty string"):
        validate_command(3, {}, {}, "job.yml", 1)  # type: ignore[arg-type]


def test_stray_close_brackets_fine_without_optional_segments() -> None:
    validate_command("python -c 'print([1,[2]])'", {}, {}, "job.yml", 1)
