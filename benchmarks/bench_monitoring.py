"""Model monitoring (issue 16): the time of the monitor's metrics over a production window of
``--rows`` rows × ``--features`` features (``--categorical`` of them text with a few
categories, the rest normal floats) against a reference window of ``--reference-rows``.

Times, each the median of ``--rounds``: data drift with every metric (JS, PSI, normalized
Wasserstein, KS for numerical; JS, PSI, chi-squared for categorical) and histograms, and data
quality (null, type error, out-of-bounds rates). The monitor run end to end (reading a million
collected JSON lines) beside ``evidently`` on the same files is ``bench_monitor_run.py``.

Usage: python benchmarks/bench_monitoring.py [--rows 1000000] [--reference-rows N]
       [--features 20] [--categorical 5] [--rounds 3]
Writes bench-results/monitoring.json and prints it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, write_json  # noqa: E402

from ember.monitoring import data_drift, data_quality  # noqa: E402


def make_window(rows: int, features: int, categorical: int, shift: float,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for i in range(features - categorical):
        data[f"num_{i}"] = rng.normal(shift * (i % 3), 1.0 + 0.1 * (i % 4), rows)
    categories = np.array(["red", "green", "blue", "amber", "violet"])
    for i in range(categorical):
        p = np.array([0.4, 0.25, 0.15, 0.1, 0.1]) if shift == 0 else np.full(5, 0.2)
        data[f"cat_{i}"] = rng.choice(categories, rows, p=p)
    return data


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=None)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--categorical", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(16)
    reference = make_window(args.reference_rows or args.rows, args.features, args.categorical, 0.0, rng)
    production = make_window(args.rows, args.features, args.categorical, 0.2, rng)

    drift_s, drift_all = timed(lambda: data_drift(reference, production), args.rounds)
    quality_s, quality_all = timed(lambda: data_quality(reference, production), args.rounds)
    drift = data_drift(reference, production)
    result = {
        "rows": args.rows, "reference_rows": args.reference_rows or args.rows,
        "features": args.features, "categorical": args.categorical,
        "ember": {"data_drift_s": round(drift_s, 3), "data_quality_s": round(quality_s, 3),
                  "data_drift_rounds_s": [round(t, 3) for t in drift_all],
                  "data_quality_rounds_s": [round(t, 3) for t in quality_all],
                  "drift_breached_features": len(drift.breached_features)},
        "machine": machine_info(),
    }
    RESULTS.mkdir(exist_ok=True)
    write_json(RESULTS / "monitoring.json", result)
    print(result)


if __name__ == "__main__":
    main()
