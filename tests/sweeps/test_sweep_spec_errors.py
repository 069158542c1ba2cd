"""Sweep YAML files that do not validate: each error names the file, line, key and reason."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.errors import SpecError
from ember.specs.sweeps import load_sweep_spec

BASE = """
    type: sweep
    trial:
      command: python train.py --lr ${{search_space.lr}}
    search_space:
      lr:
        type: uniform
        min_value: 0.01
        max_value: 0.1
    objective:
      primary_metric: loss
      goal: minimize
"""
LR = "type: uniform\n        min_value: 0.01\n        max_value: 0.1"


def expect(write: Callable[[str, str], Path], text: str, *, key: str, at: str | None,
           reason: str, hint: str | None = None,
           overrides: list[str] | None = None) -> SpecError:
    """Load ``text``; assert the SpecError names the file, the line holding ``at``, ``key``."""
    path = write("sweep.yml", text)
    with pytest.raises(SpecError) as info:
        load_sweep_spec(path, overrides)
    err = info.value
    message = str(err)
    assert err.file == str(path), message
    assert err.key == key, message
    assert reason in message, message
    if at is not None:
        lines = textwrap.dedent(text).lstrip("\n").splitlines()
        line = next(i for i, t in enumerate(lines, 1) if at in t)
        assert err.line == line, message
        assert message.startswith(f"{path}:{line}: "), message
    assert key in message, message
    if hint is not None:
        assert err.hint is not None and hint in err.hint, message
    return err


def space(text: str) -> str:
    """BASE with the lr distribution replaced (``text`` at the lr mapping's indentation)."""
    return BASE.replace(LR, textwrap.indent(textwrap.dedent(text).strip(), " " * 8).lstrip())


def test_unknown_top_level_key_has_a_hint(write: Callable[[str, str], Path]) -> None:
    expect(write, BASE + "    sampling: random\n", key="sampling", at="sampling:",
           reason="unknown key 'sampling'", hint="did you mean 'sampling_algorithm'?")


def test_unknown_distribution_field_has_a_hint(write: Callable[[str, str], Path]) -> None:
    expect(write, BASE.replace("min_value: 0.01", "min_val: 0.01"),
           key="search_space.lr.min_val", at="min_val: 0.01", reason="unknown key",
           hint="did you mean 'min_value'?")


def test_unknown_distribution_type(write: Callable[[str, str], Path]) -> None:
    expect(write, BASE.replace("type: uniform", "type: unifrom"),
           key="search_space.lr.type", at="type: unifrom", reason="'unifrom' is not one of",
           hint="did you mean 'uniform'?")


def test_grid_rejects_a_uniform(write: Callable[[str, str], Path]) -> None:
    err = expect(write, BASE + "    sampling_algorithm: grid\n", key="search_space.lr.type",
                 at="type: uniform", reason="grid sampling supports only choice")
    assert "hyperparameter 'lr' is uniform" in str(err)


def test_bayesian_rejects_a_normal(write: Callable[[str, str], Path]) -> None:
    text = space("type: normal\nmu: 0\nsigma: 1") + "    sampling_algorithm: bayesian\n"
    err = expect(write, text, key="search_space.lr.type", at="type: normal",
                 reason="bayesian sampling supports only choice, uniform, quniform")
    assert "hyperparameter 'lr' is normal" in str(err)


def test_bandit_with_both_slacks(write: Callable[[str, str], Path]) -> None:
    text = BASE + textwrap.indent(textwrap.dedent("""
        early_termination:
          type: bandit
          slack_factor: 0.1
          slack_amount: 0.2
    """), "    ")
    expect(write, text, key="early_termination.slack_amount", at="slack_amount",
           reason="give slack_factor or slack_amount, not both")


def test_bandit_without_slack(write: Callable[[str, str], Path]) -> None:
    text = BASE + "    early_termination:\n      type: bandit\n      evaluation_interval: 2\n"
    expect(write, text, key="early_termination", at="early_termination:",
           reason="a bandit policy needs slack_factor or slack_amount")


@pytest.mark.parametrize("pct", [0, 100, -5])
def test_truncation_percentage_out_of_range(write: Callable[[str, str], Path],
                                            pct: int) -> None:
    text = BASE + ("    early_termination:\n      type: truncation_selection\n"
                   f"      truncation_percentage: {pct}\n")
    expect(write, text, key="early_termination.truncation_percentage",
           at="truncation_percentage", reason=f"must be an integer from 1 to 99, not {pct}")


def test_truncation_percentage_required(write: Callable[[str, str], Path]) -> None:
    text = BASE + "    early_termination:\n      type: truncation_selection\n"
    expect(write, text, key="early_termination.truncation_percentage",
           at="early_termination:", reason="is required for truncation_selection")


def test_policy_setting_of_another_type(write: Callable[[str, str], Path]) -> None:
    text = BASE + ("    early_termination:\n      type: median_stopping\n"
                   "      slack_factor: 0.1\n")
    expect(write, text, key="early_termination.slack_factor", at="slack_factor",
           reason="unknown key")


def test_unknown_policy_type(write: Callable[[str, str], Path]) -> None:
    expect(write, BASE + "    early_termination: {type: bandits, slack_factor: 1}\n",
           key="early_termination.type", at="early_termination:",
           reason="'bandits' is not one of", hint="did you mean 'bandit'?")


@pytest.mark.parametrize(("setting", "reason"), [
    ("evaluation_interval: 0", "must be an integer >= 1, not 0"),
    ("delay_evaluation: -1", "must be an integer >= 0, not -1"),
])
def test_policy_intervals(write: Callable[[str, str], Path], setting: str,
                          reason: str) -> None:
    text = BASE + ("    early_termination:\n      type: median_stopping\n"
                   f"      {setting}\n")
    expect(write, text, key=f"early_termination.{setting.split(':')[0]}", at=setting,
           reason=reason)


def test_unknown_search_space_reference(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("${{search_space.lr}}", "${{search_space.lr}} ${{search_space.lrr}}")
    err = expect(write, text, key="trial.command", at="command:",
                 reason="references undeclared hyperparameter 'lrr'")
    assert err.hint == "did you mean 'lr'?"


def test_undeclared_input_in_trial_command(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("${{search_space.lr}}", "${{search_space.lr}} ${{inputs.data}}")
    expect(write, text, key="trial.command", at="command:",
           reason="references undeclared input 'data'")


def test_max_concurrent_above_max_total(write: Callable[[str, str], Path]) -> None:
    text = BASE + "    limits:\n      max_total_trials: 4\n      max_concurrent_trials: 8\n"
    expect(write, text, key="limits.max_concurrent_trials", at="max_concurrent_trials",
           reason="8 is more than max_total_trials (4)")


@pytest.mark.parametrize(("setting", "reason"), [
    ("max_total_trials: 0", "must be a positive integer, not 0"),
    ("max_total_trials: 2.5", "must be an integer, not 2.5"),
    ("timeout: -1", "must be a positive number of seconds, not -1"),
    ("trial_timeout: 0", "must be a positive number of seconds"),
])
def test_limits_must_be_positive(write: Callable[[str, str], Path], setting: str,
                                 reason: str) -> None:
    expect(write, BASE + f"    limits:\n      {setting}\n",
           key=f"limits.{setting.split(':')[0]}", at=setting, reason=reason)


def test_unknown_limit_key(write: Callable[[str, str], Path]) -> None:
    expect(write, BASE + "    limits:\n      max_trials: 3\n", key="limits.max_trials",
           at="max_trials", reason="unknown key", hint="did you mean 'max_total_trials'?")


def test_search_space_must_be_a_mapping(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("search_space:\n      lr:\n        " + LR,
                        "search_space:\n      - lr")
    expect(write, text, key="search_space", at="search_space:",
           reason="must be a mapping, not a list")


def test_search_space_needs_a_hyperparameter(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("search_space:\n      lr:\n        " + LR, "search_space: {}")
    expect(write, text, key="search_space", at="search_space:",
           reason="must define at least one hyperparameter")


def test_hyperparameter_must_be_a_mapping(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("lr:\n        " + LR, "lr: [0.1, 0.2]")
    expect(write, text, key="search_space.lr", at="lr: [0.1", reason="must be a mapping")


def test_search_space_is_required(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("    search_space:\n      lr:\n        " + LR + "\n", "")
    expect(write, text, key="search_space", at=None, reason="is required")


@pytest.mark.parametrize(("dist", "key", "at", "reason"), [
    ("type: randint\nupper: 0", "upper", "upper", "must be a positive integer, not 0"),
    ("type: randint\nupper: 2.5", "upper", "upper", "must be an integer, not 2.5"),
    ("type: randint\nupper: '5'", "upper", "upper", "must be an integer"),
    ("type: randint", "upper", "lr:", "is required for a randint distribution"),
    ("type: uniform\nmin_value: 1\nmax_value: 1", "max_value", "max_value",
     "must be greater than min_value (1), not 1"),
    ("type: loguniform\nmin_value: 0\nmax_value: -2", "max_value", "max_value",
     "must be greater than min_value"),
    ("type: uniform\nmin_value: a\nmax_value: 1", "min_value", "min_value",
     "must be a number, not 'a'"),
    ("type: quniform\nmin_value: 0\nmax_value: 1\nq: 0", "q", "q: 0",
     "must be a positive number, not 0"),
    ("type: qnormal\nmu: 0\nsigma: 1\nq: -1", "q", "q: -1", "must be a positive number"),
    ("type: normal\nmu: 0\nsigma: 0", "sigma", "sigma", "must be a positive number, not 0"),
    ("type: lognormal\nmu: 1", "sigma", "lr:", "is required for a lognormal distribution"),
    ("type: choice\nvalues: []", "values", "values", "must be a non-empty list"),
    ("type: choice\nvalues: 3", "values", "values", "must be a non-empty list, not an integer"),
    ("type: choice\nvalues: [1, [2, 3]]", "values", "values",
     "item 1 must be a string, number or boolean"),
    ("type: choice\nvalues: [1, 2, 1]", "values", "values", "item 2 (1) repeats"),
    ("type: choice", "values", "lr:", "is required for a choice distribution"),
])
def test_bad_distributions(write: Callable[[str, str], Path], dist: str, key: str, at: str,
                           reason: str) -> None:
    expect(write, space(dist), key=f"search_space.lr.{key}", at=at, reason=reason)


def test_bad_hyperparameter_name(write: Callable[[str, str], Path]) -> None:
    expect(write, BASE.replace("lr:\n", "1lr:\n"), key="search_space.1lr", at="1lr:",
           reason="is not a valid hyperparameter name")


@pytest.mark.parametrize(("text", "key", "at", "reason", "hint"), [
    ("sampling_algorithm: gird", "sampling_algorithm", "sampling_algorithm",
     "'gird' is not one of: random, grid, bayesian", "did you mean 'grid'?"),
    ("sampling_algorithm: {type: grid, rule: sobol}", "sampling_algorithm.rule",
     "sampling_algorithm", "is only for random sampling, not grid", None),
    ("sampling_algorithm: {type: random, rule: halton}", "sampling_algorithm.rule",
     "sampling_algorithm", "'halton' is not one of: random, sobol", None),
    ("sampling_algorithm: {type: random, seed: abc}", "sampling_algorithm.seed",
     "sampling_algorithm", "must be an integer, not 'abc'", None),
    ("sampling_algorithm: {type: random, seed: -1}", "sampling_algorithm.seed",
     "sampling_algorithm", "must be an integer from 0 to 4294967295, not -1", None),
    ("sampling_algorithm: {seed: 1}", "sampling_algorithm.type", "sampling_algorithm",
     "is required", None),
    ("sampling_algorithm: {type: random, sed: 1}", "sampling_algorithm.sed",
     "sampling_algorithm", "unknown key", "did you mean 'seed'?"),
    ("sampling_algorithm: [random]", "sampling_algorithm", "sampling_algorithm",
     "must be random, grid, bayesian or a mapping", None),
])
def test_bad_sampling_algorithm(write: Callable[[str, str], Path], text: str, key: str,
                                at: str, reason: str, hint: str | None) -> None:
    choice = space("type: choice\nvalues: [0.1, 0.2]")
    expect(write, choice + f"    {text}\n", key=key, at=at, reason=reason, hint=hint)


@pytest.mark.parametrize(("old", "new", "key", "at", "reason"), [
    ("primary_metric: loss\n", "", "objective.primary_metric", "objective:", "is required"),
    ("goal: minimize", "goal: lowest", "objective.goal", "goal:",
     "'lowest' is not one of: maximize, minimize"),
    ("      goal: minimize\n", "", "objective.goal", "objective:", "is required"),
    ("primary_metric: loss", "primary_metric: 3", "objective.primary_metric", "primary_metric",
     "must be a string"),
])
def test_bad_objective(write: Callable[[str, str], Path], old: str, new: str, key: str,
                       at: str, reason: str) -> None:
    expect(write, BASE.replace(old, new), key=key, at=at, reason=reason)


def test_objective_is_required(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("    objective:\n      primary_metric: loss\n      goal: minimize\n",
                        "")
    expect(write, text, key="objective", at=None, reason="is required")


def test_trial_is_required(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace(
        "    trial:\n      command: python train.py --lr ${{search_space.lr}}\n", "")
    err = expect(write, text, key="trial", at=None, reason="is required")
    assert "component" in (err.hint or "")


def test_trial_command_is_required(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("command: python train.py --lr ${{search_space.lr}}",
                        "code: .\n      environment: azureml:env:1")
    expect(write, text, key="trial.command", at="trial:", reason="is required")


def test_unknown_trial_key_has_a_hint(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("trial:\n", "trial:\n      environmnt: azureml:env:1\n")
    expect(write, text, key="trial.environmnt", at="environmnt",
           reason="unknown key", hint="did you mean 'environment'?")


def test_trial_component_file_must_exist(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("trial:\n      command: python train.py --lr ${{search_space.lr}}",
                        "trial: ./missing.yml")
    expect(write, text, key="trial", at="trial:", reason="path not found")


def test_bad_trial_component_reference(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("trial:\n      command: python train.py --lr ${{search_space.lr}}",
                        "trial: azureml:train@v2")
    expect(write, text, key="trial", at="trial:", reason="only the 'latest' label")


def test_trial_must_be_a_mapping_or_path(write: Callable[[str, str], Path]) -> None:
    text = BASE.replace("trial:\n      command: python train.py --lr ${{search_space.lr}}",
                        "trial: [1]")
    expect(write, text, key="trial", at="trial:", reason="must be a mapping, a component file")


COMPONENT = """
    name: train_model
    command: python train.py --data ${{inputs.data}} --lr ${{inputs.lr}}
    environment: azureml:env:1
    inputs:
      data: {type: uri_folder}
      lr: {type: number, default: 0.1}
"""


def test_hyperparameter_must_be_a_component_input(write: Callable[[str, str], Path]) -> None:
    write("train.yml", COMPONENT)
    text = """
        type: sweep
        trial: ./train.yml
        inputs:
          data: {type: uri_folder, path: azureml:iris:1}
        search_space:
          learning_rate: {type: uniform, min_value: 0.01, max_value: 0.1}
        objective: {primary_metric: acc, goal: maximize}
    """
    err = expect(write, text, key="search_space.learning_rate", at="learning_rate:",
                 reason="hyperparameter 'learning_rate' is not an input of trial component "
                        "'train_model'")
    assert err.hint is not None and "data, lr" in err.hint


def test_required_component_input_must_be_bound(write: Callable[[str, str], Path]) -> None:
    write("train.yml", COMPONENT)
    text = """
        type: sweep
        trial: ./train.yml
        search_space:
          lr: {type: uniform, min_value: 0.01, max_value: 0.1}
        objective: {primary_metric: acc, goal: maximize}
    """
    expect(write, text, key="inputs", at="type: sweep",
           reason="trial component input 'data' is required")


def test_component_errors_name_the_component_file(write: Callable[[str, str], Path]) -> None:
    comp = write("train.yml", COMPONENT.replace("    environment: azureml:env:1\n", ""))
    path = write("sweep.yml", BASE.replace(
        "trial:\n      command: python train.py --lr ${{search_space.lr}}", "trial: train.yml"))
    with pytest.raises(SpecError) as info:
        load_sweep_spec(path)
    assert info.value.file == str(comp) and info.value.key == "environment"


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("type: sweep", "type: command", "expected 'type: sweep', not 'command'"),
    ("    type: sweep\n", "", "is required"),
])
def test_type_must_be_sweep(write: Callable[[str, str], Path], old: str, new: str,
                            reason: str) -> None:
    expect(write, BASE.replace(old, new), key="type", at=None, reason=reason)


def test_error_from_an_override_names_it(write: Callable[[str, str], Path]) -> None:
    err = expect(write, BASE, key="search_space.lr.max_value", at=None,
                 reason="must be greater than min_value",
                 overrides=["search_space.lr.max_value=0.001"])
    assert "set by --set search_space.lr.max_value=0.001" in str(err)
