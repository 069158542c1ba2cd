"""Hyperparameter sampling for sweep jobs, on Optuna's samplers (ask-and-tell, in memory).

Algorithms:

- ``random`` → ``RandomSampler(seed)``; ``random`` with ``rule: sobol`` →
  ``QMCSampler(qmc_type="sobol", scramble=True, seed)``. As in Optuna, the Sobol sequence
  starts once a first trial has fixed the search space: trial 0 is drawn at random.
- ``grid`` → ``GridSampler`` over the choice values. Each ask takes the next grid point not
  yet used by any trial (running or finished) in the seeded shuffled order (seed 0 when none
  is given, as Optuna does) and hands it to the study as an enqueued trial: GridSampler
  itself numbers grid points by trial number, which would repeat points after
  :meth:`TrialSampler.restore`. :meth:`~TrialSampler.ask` returns None once all
  :attr:`~TrialSampler.grid_size` points are taken.
- ``bayesian`` → ``TPESampler(seed)``.

Distributions Optuna lacks are a FloatDistribution plus a transform:

- ``randint(upper)`` → IntDistribution(0, upper - 1);
- ``quniform`` → ``round(uniform(min, max) / q) * q``;
- ``loguniform`` (bounds are exponents) → ``exp(uniform(min, max))``; ``qloguniform`` rounds
  that to a multiple of q;
- ``normal(mu, sigma)`` → a uniform(0, 1) through ``NormalDist(mu, sigma).inv_cdf``, clipped
  to [1e-12, 1 - 1e-12]; ``lognormal`` is its exp; ``qnormal``/``qlognormal`` round them.

Rounding keeps the type of ``q`` (an integer q gives integers) and trims float noise to 12
significant digits (0.30000000000000004 → 0.3). Values are plain int/float/str/bool.
Same seed, same sequence of asks and tells → same values.
"""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import ExperimentalWarning
from optuna.trial import Trial, TrialState

from ember.entities.sweeps import SamplingAlgorithm, SearchDistribution
from ember.errors import InvalidInputError

STATES = ("completed", "failed", "pruned")
_EPS = 1e-12
_MAX_EXP = 709.0   # math.exp overflows past ~709.78
_OPTUNA_STATE = {"completed": TrialState.COMPLETE, "failed": TrialState.FAIL,
                 "pruned": TrialState.PRUNED}


@dataclass(frozen=True)
class _Param:
    """How one hyperparameter is sampled: an Optuna distribution and the way to the value."""

    distribution: BaseDistribution
    to_value: Callable[[Any], Any]
    to_internal: Callable[[Any], Any]


class TrialSampler:
    """Proposes hyperparameter values for trials and learns from their results.

    ``goal`` is "maximize" or "minimize". Trial numbers count from 0 in ask order (restored
    trials first).
    """

    def __init__(self, search_space: dict[str, SearchDistribution],
                 algorithm: SamplingAlgorithm, goal: str) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._algorithm = algorithm
        self._params = {name: _param(dist) for name, dist in search_space.items()}
        self._distributions = {name: p.distribution for name, p in self._params.items()}
        self._choices = {name: tuple(dist.values or ()) for name, dist in search_space.items()
                         if dist.kind == "choice"}
        self._running: dict[int, Trial] = {}
        self._grid: list[tuple[Any, ...]] = []
        self._grid_used: set[tuple[Any, ...]] = set()
        self.grid_size: int | None = None
        if algorithm.type == "grid":
            self._grid_names = sorted(search_space)
            self._grid = list(itertools.product(*(range(len(self._choices[n]))
                                                  for n in self._grid_names)))
            random.Random(algorithm.seed or 0).shuffle(self._grid)
            self.grid_size = len(self._grid)
        direction = (optuna.study.StudyDirection.MINIMIZE if goal.lower() == "minimize"
                     else optuna.study.StudyDirection.MAXIMIZE)
        self._study = optuna.create_study(sampler=self._sampler(algorithm.seed),
                                          direction=direction)

    def _sampler(self, seed: int | None) -> optuna.samplers.BaseSampler:
        kind, rule = self._algorithm.type, self._algorithm.rule
        if kind == "grid":
            grid = {name: list(self._choices[name]) for name in self._grid_names}
            return optuna.samplers.GridSampler(grid, seed=seed)
        if kind == "bayesian":
            return optuna.samplers.TPESampler(seed=seed)
        if rule == "sobol":
            with warnings.catch_warnings():   # QMCSampler is marked experimental
                warnings.simplefilter("ignore", ExperimentalWarning)
                return optuna.samplers.QMCSampler(
                    qmc_type="sobol", scramble=True, seed=seed,
                    warn_asynchronous_seeding=False, warn_independent_sampling=False)
        return optuna.samplers.RandomSampler(seed=seed)

    def ask(self) -> tuple[int, dict[str, Any]] | None:
        """The next trial's number and hyperparameter values; None when the grid is used up."""
        if self.grid_size is not None:
            point = next((p for p in self._grid if p not in self._grid_used), None)
            if point is None:
                return None
            self._grid_used.add(point)
            self._study.enqueue_trial({name: self._choices[name][index]
                                       for name, index in zip(self._grid_names, point)})
        trial = self._study.ask(self._distributions)
        self._running[trial.number] = trial
        values = {name: _plain(p.to_value(trial.params[name]))
                  for name, p in self._params.items()}
        return trial.number, values

    def tell(self, number: int, value: float | None, state: str) -> None:
        """Record a trial's end: ``state`` "completed" | "failed" | "pruned".

        A completed trial without a finite value counts as failed. For a pruned
        (early-terminated) trial ``value`` is its last reported metric, if any.
        Raises InvalidInputError for a number not asked (or already told) or a bad state.
        """
        if state not in _OPTUNA_STATE:
            raise InvalidInputError(f"trial state must be one of {', '.join(STATES)}, "
                                    f"not {state!r}")
        trial = self._running.pop(number, None)
        if trial is None:
            raise InvalidInputError(f"trial {number} is not running in this sweep")
        if value is not None and math.isfinite(value):
            if state == "completed":
                self._study.tell(trial, float(value))
                return
            if state == "pruned":
                # Optuna takes a pruned trial's value from its last intermediate report.
                trial.report(float(value), step=0)
        self._study.tell(trial, state=_OPTUNA_STATE["pruned" if state == "pruned"
                                                    else "failed"])

    def restore(self, history: list[tuple[dict[str, Any], float | None, str]]) -> list[int]:
        """Replay earlier trials ``(values, metric, state)`` after a server restart.

        ``state`` is "completed", "failed", "pruned" or "running" (a running trial stays
        open: tell it later by its number). Returns the numbers given to them, in order.
        Grid points they used are not proposed again; the Sobol sequence continues after
        them; random and bayesian samplers are reseeded with ``seed + number of trials`` so
        that a seeded sweep does not repeat its first proposals.
        Raises InvalidInputError for values that do not fit the search space.
        """
        numbers: list[int] = []
        for index, (values, metric, state) in enumerate(history):
            if state != "running" and state not in _OPTUNA_STATE:
                raise InvalidInputError(f"history item {index}: unknown state {state!r}")
            internal = self._internal(index, values)
            if self.grid_size is not None:
                self._grid_used.add(tuple(self._choices[n].index(internal[n])
                                          for n in self._grid_names))
            self._study.enqueue_trial(internal)
            trial = self._study.ask(self._distributions)
            self._running[trial.number] = trial
            numbers.append(trial.number)
            if self._algorithm.rule == "sobol" and trial.number > 0:
                # Fixed params skip the sampler; drawing the (unused) Sobol point moves the
                # sequence on as the original trial did, so later asks do not repeat it.
                _ = trial.relative_params
            if state != "running":
                self.tell(trial.number, metric, state)
        seed = self._algorithm.seed
        if history and seed is not None and self._algorithm.type != "grid" \
                and self._algorithm.rule != "sobol":
            self._study.sampler = self._sampler((seed + len(self._study.trials)) % 2**32)
        return numbers

    def _internal(self, index: int, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, param in self._params.items():
            if name not in values:
                raise InvalidInputError(f"history item {index}: no value for '{name}'")
            try:
                internal = param.to_internal(values[name])
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"history item {index}: '{name}' = "
                                        f"{values[name]!r} does not fit: {exc}") from None
            if not param.distribution._contains(param.distribution.to_internal_repr(internal)):
                raise InvalidInputError(f"history item {index}: '{name}' = {values[name]!r} "
                                        "is outside the search space")
            out[name] = internal
        return out


def _param(dist: SearchDistribution) -> _Param:
    kind, q = dist.kind, dist.q
    if kind == "choice":
        choices = tuple(dist.values or ())
        return _Param(CategoricalDistribution(choices), _same, lambda v: _member(choices, v))
    if kind == "randint":
        upper = int(dist.upper or 1)
        return _Param(IntDistribution(0, upper - 1), int, int)
    if kind in ("uniform", "quniform", "loguniform", "qloguniform"):
        low, high = float(dist.min_value or 0.0), float(dist.max_value or 0.0)
        space = FloatDistribution(low, high)
        log = kind.endswith("loguniform")
        forward: Callable[[Any], Any] = _exp if log else float
        backward: Callable[[Any], float] = math.log if log else float
        return _Param(space, _rounded(forward, q),
                      lambda v: min(max(backward(v), low), high))
    mu, sigma = float(dist.mu or 0.0), float(dist.sigma or 1.0)
    normal = NormalDist(mu, sigma)
    log = kind in ("lognormal", "qlognormal")

    def forward_normal(u: float) -> float:
        x = normal.inv_cdf(min(max(u, _EPS), 1 - _EPS))
        return _exp(x) if log else x

    def backward_normal(v: Any) -> float:
        return min(max(normal.cdf(math.log(v) if log else float(v)), _EPS), 1 - _EPS)

    return _Param(FloatDistribution(0.0, 1.0), _rounded(forward_normal, q), backward_normal)


def _rounded(forward: Callable[[Any], Any], q: float | None) -> Callable[[Any], Any]:
    if q is None:
        return forward

    def to_value(x: Any) -> Any:
        steps = round(forward(x) / q)
        if isinstance(q, int):
            return steps * q
        return float(f"{steps * q:.12g}")

    return to_value


def _exp(x: float) -> float:
    return math.exp(min(x, _MAX_EXP))


def _same(value: Any) -> Any:
    return value


def _member(choices: tuple[Any, ...], value: Any) -> Any:
    for choice in choices:
        if choice == value and type(choice) is type(value):
            return choice
    for choice in choices:   # JSON may turn 2.0 into 2
        if choice == value:
            return choice
    raise ValueError(f"not one of {list(choices)}")


def _plain(value: Any) -> Any:
    """numpy scalars (from Optuna) → Python int/float; str and bool as they are."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    item = getattr(value, "item", None)
    return item() if callable(item) else value
