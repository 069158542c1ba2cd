"""Early termination of sweep trials (reference 1.3): pure functions over reported metrics.

The reference: *One "interval" = one report of the primary metric. Bandit (maximize) stops
trials below best/(1+slack_factor) or best−slack_amount; median stopping stops trials worse
than the median of running averages; truncation cancels the worst X% per interval. Stopped
trials end Canceled.* It leaves the details open; this module implements them as follows.

Inputs of :func:`trials_to_stop`: ``series[t]`` is the primary-metric values trial ``t`` has
reported so far, in order (the k-th report is interval k, counting from 1); ``finished`` the
trials that have ended. Finished trials are references for the others but are never returned.

**When a trial is evaluated.** Only a running trial, and only when its report count ``n``
satisfies ``n > delay_evaluation`` and ``(n - delay_evaluation) % evaluation_interval == 0``:
with delay 5 and interval 1 the first evaluation is at the 6th report; with delay 0 and
interval 2 at reports 2, 4, 6... The evaluation looks at interval ``n`` only (call this after
each report so no interval is skipped), and every other trial is compared by its value at that
same interval, when it has reported that far. Non-finite values (NaN, inf) are ignored as
references, and a trial whose value at the interval is not finite is not evaluated.

**Bandit.** ``best`` is the best value at the interval among all trials that have one (the
evaluated trial, other running and finished trials). With goal maximize the trial stops when
``value < best / (1 + slack_factor)`` or ``value < best - slack_amount``; with minimize when
``value > best * (1 + slack_factor)`` or ``value > best + slack_amount``.

**Median stopping.** The references are the *other* trials with a value at the interval; each
contributes its running average (the mean of its values up to and including the interval).
With at least :data:`MEDIAN_MIN_OTHERS` (2) references, the trial stops when its best value
so far (up to the interval) is strictly worse than the median of those averages (maximize:
lower; minimize: higher). With fewer references nothing stops.

**Truncation selection.** The candidates are the trials with a value at the interval, the
evaluated one included, finished trials excluded when ``exclude_finished_jobs``. With ``count``
candidates, ``cut = floor(count * truncation_percentage / 100)`` of them are the worst; fewer
than 2 candidates (or ``cut == 0``) stops nothing. The trial stops when at least
``count - cut`` candidates are strictly better than it, i.e. it is among the worst ``cut``
even if ties are resolved in its favour.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

from ember.entities.sweeps import EarlyTermination

MEDIAN_MIN_OTHERS = 2


def trials_to_stop(policy: EarlyTermination, goal: str, series: Mapping[str, list[float]],
                   finished: set[str]) -> set[str]:
    """The running trials that ``policy`` stops now (see the module docstring)."""
    maximize = goal.lower() == "maximize"
    stop: set[str] = set()
    for trial, values in series.items():
        if trial in finished or not is_evaluated(policy, len(values)):
            continue
        index = len(values) - 1
        if not math.isfinite(values[index]):
            continue
        if policy.type == "bandit":
            hit = _bandit(policy, maximize, values[index],
                          list(_values_at(series, index).values()))
        elif policy.type == "median_stopping":
            hit = _median(maximize, trial, values, series)
        elif policy.type == "truncation_selection":
            hit = _truncation(policy, maximize, trial, index, series, finished)
        else:
            raise ValueError(f"unknown early termination policy {policy.type!r}")
        if hit:
            stop.add(trial)
    return stop


def is_evaluated(policy: EarlyTermination, reports: int) -> bool:
    """Whether a trial with ``reports`` reports is evaluated at its latest one."""
    after = reports - policy.delay_evaluation
    return after > 0 and after % policy.evaluation_interval == 0


def _values_at(series: Mapping[str, list[float]], index: int) -> dict[str, float]:
    return {name: values[index] for name, values in series.items()
            if len(values) > index and math.isfinite(values[index])}


def _better(maximize: bool, a: float, b: float) -> bool:
    return a > b if maximize else a < b


def _bandit(policy: EarlyTermination, maximize: bool, value: float,
            at_interval: list[float]) -> bool:
    best = max(at_interval) if maximize else min(at_interval)
    if policy.slack_factor is not None:
        if maximize and value < best / (1 + policy.slack_factor):
            return True
        if not maximize and value > best * (1 + policy.slack_factor):
            return True
    if policy.slack_amount is not None:
        if maximize and value < best - policy.slack_amount:
            return True
        if not maximize and value > best + policy.slack_amount:
            return True
    return False


def _median(maximize: bool, trial: str, values: list[float],
            series: Mapping[str, list[float]]) -> bool:
    index = len(values) - 1
    averages = []
    for name, other in series.items():
        if name == trial or len(other) <= index:
            continue
        upto = [v for v in other[:index + 1] if math.isfinite(v)]
        if upto:
            averages.append(statistics.fmean(upto))
    if len(averages) < MEDIAN_MIN_OTHERS:
        return False
    own = [v for v in values if math.isfinite(v)]
    best_so_far = max(own) if maximize else min(own)
    return _better(maximize, statistics.median(averages), best_so_far)


def _truncation(policy: EarlyTermination, maximize: bool, trial: str, index: int,
                series: Mapping[str, list[float]], finished: set[str]) -> bool:
    candidates = _values_at(series, index)
    if policy.exclude_finished_jobs:
        candidates = {n: v for n, v in candidates.items() if n not in finished}
    count = len(candidates)
    cut = math.floor(count * (policy.truncation_percentage or 0) / 100)
    if count < 2 or cut == 0:
        return False
    value = candidates[trial]
    better = sum(_better(maximize, other, value) for other in candidates.values())
    return better >= count - cut
