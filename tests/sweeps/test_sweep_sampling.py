"""TrialSampler: Optuna-backed sampling of every distribution and algorithm."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from ember.engine.sweep_sampling import TrialSampler
from ember.entities.sweeps import SamplingAlgorithm, SearchDistribution
from ember.errors import InvalidInputError

D = SearchDistribution
ALL_KINDS = {
    "c": D("choice", values=["relu", 2, 0.5, True]),
    "r": D("randint", upper=4),
    "u": D("uniform", min_value=-1.0, max_value=1.0),
    "qu": D("quniform", min_value=0, max_value=100, q=5),
    "qf": D("quniform", min_value=0.0, max_value=1.0, q=0.1),
    "lu": D("loguniform", min_value=-4.0, max_value=-1.0),
    "qlu": D("qloguniform", min_value=0.0, max_value=5.0, q=2),
    "n": D("normal", mu=10.0, sigma=2.0),
    "ln": D("lognormal", mu=0.0, sigma=0.5),
    "qn": D("qnormal", mu=50.0, sigma=10.0, q=3),
    "qln": D("qlognormal", mu=1.0, sigma=0.3, q=0.5),
}
GRID = {"lr": D("choice", values=[0.1, 0.01, 0.001]), "batch": D("choice", values=[16, 32])}


def run(sampler: TrialSampler, n: int, goal_value: Any = None) -> list[dict[str, Any]]:
    """Ask ``n`` trials, telling each as completed with ``goal_value(values)`` when given."""
    out = []
    for _ in range(n):
        asked = sampler.ask()
        assert asked is not None
        number, values = asked
        if goal_value is not None:
            sampler.tell(number, goal_value(values), "completed")
        out.append(values)
    return out


def is_multiple(value: float, q: float) -> bool:
    return math.isclose(value / q, round(value / q), abs_tol=1e-9)


@pytest.mark.parametrize("algorithm", [
    SamplingAlgorithm("random", seed=7), SamplingAlgorithm("random", seed=7, rule="sobol"),
    SamplingAlgorithm("bayesian", seed=7), SamplingAlgorithm("grid", seed=7)])
def test_same_seed_same_sequence(algorithm: SamplingAlgorithm) -> None:
    space = GRID if algorithm.type == "grid" else {
        "c": ALL_KINDS["c"], "u": ALL_KINDS["u"], "qu": ALL_KINDS["qu"]}
    n = 6 if algorithm.type == "grid" else 15

    def score(values: dict[str, Any]) -> float:
        return float(values.get("u", values.get("lr", 0.0)))

    first = run(TrialSampler(space, algorithm, "maximize"), n, score)
    second = run(TrialSampler(space, algorithm, "maximize"), n, score)
    assert first == second
    assert len({repr(v) for v in first}) > 1


def test_different_seeds_differ() -> None:
    a = run(TrialSampler(ALL_KINDS, SamplingAlgorithm("random", seed=1), "maximize"), 5)
    b = run(TrialSampler(ALL_KINDS, SamplingAlgorithm("random", seed=2), "maximize"), 5)
    assert a != b


def test_every_distribution_stays_in_its_domain() -> None:
    sampler = TrialSampler(ALL_KINDS, SamplingAlgorithm("random", seed=3), "minimize")
    draws = run(sampler, 300)
    for v in draws:
        assert type(v["c"]) in (str, int, float, bool)
        assert any(v["c"] == c and type(v["c"]) is type(c) for c in ["relu", 2, 0.5, True])
        assert type(v["r"]) is int and 0 <= v["r"] <= 3
        assert type(v["u"]) is float and -1.0 <= v["u"] <= 1.0
        assert type(v["qu"]) is int and v["qu"] % 5 == 0 and 0 <= v["qu"] <= 100
        assert type(v["qf"]) is float and is_multiple(v["qf"], 0.1)
        assert v["qf"] == round(v["qf"], 1)             # float noise trimmed
        assert math.exp(-4.0) <= v["lu"] <= math.exp(-1.0)
        assert type(v["qlu"]) is int and v["qlu"] % 2 == 0
        assert 0 <= v["qlu"] <= math.exp(5.0) + 1
        assert type(v["n"]) is float
        assert type(v["ln"]) is float and v["ln"] > 0
        assert type(v["qn"]) is int and v["qn"] % 3 == 0
        assert is_multiple(v["qln"], 0.5) and v["qln"] >= 0
    assert {v["r"] for v in draws} == {0, 1, 2, 3}
    assert {repr(v["c"]) for v in draws} == {"'relu'", "2", "0.5", "True"}
    normals = [v["n"] for v in draws]
    mean = sum(normals) / len(normals)
    assert 9.0 < mean < 11.0                                # mu 10, sigma 2
    assert min(normals) < 8.0 and max(normals) > 12.0      # not squeezed into a band
    logs = [math.log(v["ln"]) for v in draws]
    assert -0.2 < sum(logs) / len(logs) < 0.2              # log of lognormal(0, 0.5)


def test_sobol_fills_the_space_evenly() -> None:
    """Trial 0 fixes the search space; the next 8 are the first 8 scrambled Sobol points,
    one in each eighth of the range."""
    space = {"x": D("uniform", min_value=0.0, max_value=1.0)}
    for seed in (1, 2, 3):
        sampler = TrialSampler(space, SamplingAlgorithm("random", seed, "sobol"), "maximize")
        values = [v["x"] for v in run(sampler, 9, lambda v: v["x"])]
        assert sorted(int(x * 8) for x in values[1:]) == list(range(8))


def test_grid_covers_every_combination_once_then_ends() -> None:
    sampler = TrialSampler(GRID, SamplingAlgorithm("grid"), "maximize")
    assert sampler.grid_size == 6
    seen = []
    while (asked := sampler.ask()) is not None:     # no tells: concurrent trials
        number, values = asked
        assert number == len(seen)
        seen.append((values["lr"], values["batch"]))
    assert sorted(seen) == sorted(itertools.product([0.1, 0.01, 0.001], [16, 32]))
    assert sampler.ask() is None


def test_grid_with_tells_and_failures() -> None:
    sampler = TrialSampler(GRID, SamplingAlgorithm("grid", seed=5), "minimize")
    seen = set()
    for i in range(6):
        asked = sampler.ask()
        assert asked is not None
        seen.add(tuple(sorted(asked[1].items())))
        sampler.tell(asked[0], None if i % 2 else 0.5, "failed" if i % 2 else "completed")
    assert len(seen) == 6 and sampler.ask() is None


def test_bayesian_produces_valid_values_and_learns() -> None:
    space = {"c": D("choice", values=["a", "b", "c"]), "x": D("uniform", min_value=0.0,
                                                              max_value=10.0),
             "k": D("quniform", min_value=0, max_value=20, q=2)}
    sampler = TrialSampler(space, SamplingAlgorithm("bayesian", seed=0), "minimize")
    draws = run(sampler, 40, lambda v: (v["x"] - 3.0) ** 2 + (v["c"] != "b"))
    for v in draws:
        assert v["c"] in ("a", "b", "c")
        assert 0.0 <= v["x"] <= 10.0
        assert type(v["k"]) is int and v["k"] % 2 == 0 and 0 <= v["k"] <= 20
    late = draws[-15:]
    assert sum(abs(v["x"] - 3.0) < 2.0 for v in late) >= 8      # TPE closes in on x = 3
    assert sum(v["c"] == "b" for v in late) >= 8


def test_restore_does_not_repeat_grid_points() -> None:
    first = TrialSampler(GRID, SamplingAlgorithm("grid"), "maximize")
    history: list[tuple[dict[str, Any], float | None, str]] = []
    for state in ("completed", "failed", "pruned"):
        asked = first.ask()
        assert asked is not None
        history.append((asked[1], 0.5 if state != "failed" else None, state))
        first.tell(asked[0], history[-1][1], state)
    running = first.ask()
    assert running is not None
    history.append((running[1], None, "running"))

    restored = TrialSampler(GRID, SamplingAlgorithm("grid"), "maximize")
    assert restored.restore(history) == [0, 1, 2, 3]
    rest = []
    while (asked := restored.ask()) is not None:
        rest.append(asked)
    assert [n for n, _ in rest] == [4, 5]
    used = {tuple(sorted(v.items())) for v, _, _ in history}
    new = {tuple(sorted(v.items())) for _, v in rest}
    assert not used & new and len(used | new) == 6
    restored.tell(3, 0.9, "completed")                  # the running trial ends later


def test_restore_continues_the_sobol_sequence() -> None:
    space = {"x": D("uniform", min_value=0.0, max_value=1.0),
             "c": D("choice", values=[1, 2, 3])}
    algorithm = SamplingAlgorithm("random", seed=11, rule="sobol")
    straight = TrialSampler(space, algorithm, "maximize")
    draws = run(straight, 8, lambda v: v["x"])
    restored = TrialSampler(space, algorithm, "maximize")
    restored.restore([(v, v["x"], "completed") for v in draws[:5]])
    assert run(restored, 3, lambda v: v["x"]) == draws[5:]


@pytest.mark.parametrize("kind", ["random", "bayesian"])
def test_restore_with_a_seed_does_not_replay_the_first_values(kind: str) -> None:
    algorithm = SamplingAlgorithm(kind, seed=4)
    space = ALL_KINDS if kind == "random" else GRID | {"u": ALL_KINDS["u"]}
    draws = run(TrialSampler(space, algorithm, "maximize"), 3)
    restored = TrialSampler(space, algorithm, "maximize")
    restored.restore([(v, 1.0, "completed") for v in draws])
    again = run(restored, 3)
    assert all(v not in draws for v in again)
    # ...and is itself deterministic.
    other = TrialSampler(space, algorithm, "maximize")
    other.restore([(v, 1.0, "completed") for v in draws])
    assert run(other, 3) == again


def test_restore_accepts_every_distribution() -> None:
    draws = run(TrialSampler(ALL_KINDS, SamplingAlgorithm("random", seed=9), "maximize"), 5)
    restored = TrialSampler(ALL_KINDS, SamplingAlgorithm("bayesian", seed=9), "maximize")
    assert restored.restore([(v, float(i), "completed") for i, v in enumerate(draws)]) == [
        0, 1, 2, 3, 4]
    asked = restored.ask()
    assert asked is not None and asked[0] == 5


@pytest.mark.parametrize(("values", "reason"), [
    ({"lr": 0.5, "batch": 16}, "does not fit"),
    ({"lr": 0.1}, "no value for 'batch'"),
])
def test_restore_rejects_values_outside_the_space(values: dict[str, Any], reason: str) -> None:
    sampler = TrialSampler(GRID, SamplingAlgorithm("grid"), "maximize")
    with pytest.raises(InvalidInputError, match=reason):
        sampler.restore([(values, 1.0, "completed")])


def test_restore_rejects_a_randint_out_of_range() -> None:
    sampler = TrialSampler({"r": D("randint", upper=3)}, SamplingAlgorithm(), "maximize")
    with pytest.raises(InvalidInputError, match="outside the search space"):
        sampler.restore([({"r": 3}, 1.0, "completed")])


def test_tell_states() -> None:
    sampler = TrialSampler({"u": ALL_KINDS["u"]}, SamplingAlgorithm("bayesian", seed=1),
                           "maximize")
    numbers = []
    for _ in range(5):
        asked = sampler.ask()
        assert asked is not None
        numbers.append(asked[0])
    sampler.tell(numbers[0], 0.5, "completed")
    sampler.tell(numbers[1], 0.2, "pruned")          # early-terminated with its last metric
    sampler.tell(numbers[2], None, "pruned")
    sampler.tell(numbers[3], None, "failed")
    sampler.tell(numbers[4], float("nan"), "completed")   # no usable value: counted failed
    with pytest.raises(InvalidInputError, match="not running"):
        sampler.tell(numbers[0], 0.5, "completed")
    with pytest.raises(InvalidInputError, match="not running"):
        sampler.tell(99, 0.5, "completed")
    asked = sampler.ask()
    assert asked is not None
    with pytest.raises(InvalidInputError, match="trial state must be one of"):
        sampler.tell(asked[0], 0.5, "canceled")
