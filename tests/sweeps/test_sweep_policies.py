"""Early termination rules on hand-built metric series: exactly which trials stop."""

from __future__ import annotations

import pytest

from ember.engine.sweep_policies import is_evaluated, trials_to_stop
from ember.entities.sweeps import EarlyTermination

NAN = float("nan")


def bandit(**kw: float) -> EarlyTermination:
    return EarlyTermination("bandit", **kw)  # type: ignore[arg-type]


def median(**kw: int) -> EarlyTermination:
    return EarlyTermination("median_stopping", **kw)


def truncation(pct: int, **kw: bool | int) -> EarlyTermination:
    return EarlyTermination("truncation_selection", truncation_percentage=pct,
                            **kw)  # type: ignore[arg-type]


# ---- when a trial is evaluated ------------------------------------------------------------

@pytest.mark.parametrize(("interval", "delay", "due"), [
    (1, 0, [1, 2, 3, 4, 5, 6]),
    (2, 0, [2, 4, 6]),
    (1, 5, [6]),
    (2, 2, [4, 6]),
    (3, 1, [4]),
])
def test_evaluation_schedule(interval: int, delay: int, due: list[int]) -> None:
    policy = median(evaluation_interval=interval, delay_evaluation=delay)
    assert [n for n in range(7) if is_evaluated(policy, n)] == due


def test_delay_and_interval_gate_the_bandit() -> None:
    policy = bandit(slack_factor=0.1, evaluation_interval=2, delay_evaluation=2)
    best = [1.0] * 6
    stopped_at = [n for n in range(1, 7)
                  if trials_to_stop(policy, "maximize", {"a": best, "c": [0.0] * n}, set())]
    assert stopped_at == [4, 6]


# ---- bandit -------------------------------------------------------------------------------

def test_bandit_slack_factor_maximize() -> None:
    series = {"a": [1.0], "b": [0.95], "c": [0.8]}       # cut-off 1 / 1.1 = 0.909
    assert trials_to_stop(bandit(slack_factor=0.1), "maximize", series, set()) == {"c"}


def test_bandit_slack_amount_maximize() -> None:
    series = {"a": [1.0], "b": [0.91], "c": [0.89]}      # cut-off 1 - 0.1 = 0.9
    assert trials_to_stop(bandit(slack_amount=0.1), "maximize", series, set()) == {"c"}


def test_bandit_slack_factor_minimize() -> None:
    series = {"a": [1.0], "b": [1.05], "c": [1.2]}       # cut-off 1 * 1.1 = 1.1
    assert trials_to_stop(bandit(slack_factor=0.1), "minimize", series, set()) == {"c"}


def test_bandit_slack_amount_minimize() -> None:
    series = {"a": [1.0], "b": [1.09], "c": [1.11]}      # cut-off 1 + 0.1 = 1.1
    assert trials_to_stop(bandit(slack_amount=0.1), "minimize", series, set()) == {"c"}


def test_bandit_compares_at_the_same_interval() -> None:
    # a's second value (1.0) is not the reference for c's first report: a had 0.1 then.
    series = {"a": [0.1, 1.0], "c": [0.5]}
    assert trials_to_stop(bandit(slack_factor=0.1), "maximize", series, set()) == set()
    series = {"a": [0.9, 1.0], "c": [0.5, 0.95]}
    # c at interval 2: best 1.0, 0.95 >= 0.909 stays; at interval 1 it would have stopped.
    assert trials_to_stop(bandit(slack_factor=0.1), "maximize", series, set()) == set()
    assert trials_to_stop(bandit(slack_factor=0.1), "maximize",
                          {"a": [0.9, 1.0], "c": [0.5]}, set()) == {"c"}


def test_finished_trials_are_references_but_never_stopped() -> None:
    series = {"done": [2.0], "bad_done": [0.0], "run": [1.0]}
    stop = trials_to_stop(bandit(slack_factor=0.1), "maximize", series, {"done", "bad_done"})
    assert stop == {"run"}                  # 1.0 < 2.0 / 1.1, the finished best counts


def test_non_finite_values_are_ignored() -> None:
    series = {"a": [NAN], "b": [0.4], "c": [0.5]}
    assert trials_to_stop(bandit(slack_factor=0.1), "maximize", series, set()) == {"b"}
    assert trials_to_stop(bandit(slack_factor=0.1), "maximize", {"a": [], "b": [1.0]},
                          set()) == set()


# ---- median stopping ----------------------------------------------------------------------

def test_median_stopping_maximize() -> None:
    series = {"a": [1.0, 1.0, 1.0], "b": [0.8, 0.8, 0.8], "c": [0.2, 0.3, 0.1]}
    # c: others' running averages 1.0 and 0.8, median 0.9 > c's best 0.3 → stop.
    # b: others 1.0 and 0.2, median 0.6 < 0.8 → stays.
    assert trials_to_stop(median(), "maximize", series, set()) == {"c"}


def test_median_stopping_minimize() -> None:
    series = {"a": [1.0, 1.0], "b": [1.2, 1.2], "c": [3.0, 2.0]}
    # c: median of 1.0 and 1.2 = 1.1 < c's best 2.0 → stop; b: median(1.0, 2.5) = 1.75 > 1.2.
    assert trials_to_stop(median(), "minimize", series, set()) == {"c"}


def test_median_needs_two_other_trials() -> None:
    assert trials_to_stop(median(), "maximize", {"a": [1.0], "c": [0.0]}, set()) == set()
    assert trials_to_stop(median(), "maximize", {"a": [1.0], "b": [1.0], "c": [0.0]},
                          set()) == {"c"}


def test_median_uses_running_averages_up_to_the_interval() -> None:
    # At c's first report the others averaged 0.2 (b's later 10s do not count yet).
    series = {"a": [0.2, 0.2], "b": [0.2, 10.0, 10.0], "c": [0.3]}
    assert "c" not in trials_to_stop(median(), "maximize", series, set())


def test_median_judges_the_best_value_so_far() -> None:
    # c's latest 0.1 is poor but its best (0.9) beats the median 0.55 of 0.5 and 0.6.
    # a (best 0.5) is below the median 0.55 of b (0.6) and c (average 0.5): it stops.
    series = {"a": [0.5, 0.5], "b": [0.6, 0.6], "c": [0.9, 0.1]}
    assert trials_to_stop(median(), "maximize", series, set()) == {"a"}


def test_median_with_finished_references_and_delay() -> None:
    series = {"f1": [1.0, 1.0, 1.0], "f2": [0.9, 0.9, 0.9], "c": [0.0, 0.0]}
    policy = median(delay_evaluation=2)
    assert trials_to_stop(policy, "maximize", series, {"f1", "f2"}) == set()
    series["c"].append(0.0)
    assert trials_to_stop(policy, "maximize", series, {"f1", "f2"}) == {"c"}


# ---- truncation selection -----------------------------------------------------------------

def ranked(n: int) -> dict[str, list[float]]:
    return {f"t{i}": [float(i)] for i in range(1, n + 1)}


def test_truncation_cuts_the_worst_percent() -> None:
    assert trials_to_stop(truncation(25), "maximize", ranked(8), set()) == {"t1", "t2"}
    assert trials_to_stop(truncation(25), "minimize", ranked(8), set()) == {"t7", "t8"}
    assert trials_to_stop(truncation(99), "maximize", ranked(3), set()) == {"t1", "t2"}


def test_truncation_rounds_down() -> None:
    assert trials_to_stop(truncation(40), "maximize", ranked(2), set()) == set()   # 0.8
    assert trials_to_stop(truncation(40), "maximize", ranked(3), set()) == {"t1"}  # 1.2
    assert trials_to_stop(truncation(99), "maximize", ranked(1), set()) == set()


def test_truncation_ties_favour_the_trial() -> None:
    series = {"a": [1.0], "b": [1.0], "c": [1.0], "d": [2.0]}
    assert trials_to_stop(truncation(50), "maximize", series, set()) == set()


def test_truncation_finished_trials_count_unless_excluded() -> None:
    finished = {"t1", "t2"}
    # 8 candidates, cut 2: the worst two are finished, so nothing running is cut.
    assert trials_to_stop(truncation(25), "maximize", ranked(8), finished) == set()
    # Without them: 6 candidates, cut floor(1.5) = 1 → t3.
    policy = truncation(25, exclude_finished_jobs=True)
    assert trials_to_stop(policy, "maximize", ranked(8), finished) == {"t3"}


def test_truncation_at_the_evaluated_interval() -> None:
    # Only b is due (2 reports, interval 2); at interval 2 it is the worst of a, b, c.
    series = {"a": [5.0, 5.0, 5.0], "b": [9.0, 1.0], "c": [4.0, 4.0, 4.0]}
    policy = truncation(34, evaluation_interval=2)
    assert trials_to_stop(policy, "maximize", series, {"a", "c"}) == {"b"}
