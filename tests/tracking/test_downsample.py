"""Shape-keeping downsampling of metric histories, checked against a direct computation with
numpy on the same arrays, and the service's sampled histories on real SQLite."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ember.artifacts.store import ArtifactStore
from ember.entities.tracking import Metric
from ember.entities.workspaces import Workspace
from ember.errors import InvalidInputError
from ember.store.sql.store import SqlStore
from ember.tracking.downsample import downsample, min_max_indices
from ember.tracking.service import TrackingService


def _direct(values: np.ndarray, max_points: int) -> list[int]:
    """The same buckets, computed independently: numpy's argmin/argmax per bucket."""
    n = len(values)
    buckets = (max_points - 2) // 2
    edges = 1 + (np.arange(buckets + 1) * (n - 2)) // buckets
    kept = [0]
    for a, b in zip(edges[:-1], edges[1:]):
        if a >= b:
            continue
        lo, hi = a + int(np.argmin(values[a:b])), a + int(np.argmax(values[a:b]))
        kept.extend(sorted({lo, hi}))
    return kept + [n - 1]


@pytest.mark.parametrize("n,max_points", [(100_000, 1000), (10_001, 500), (1003, 1000),
                                          (57, 10), (5, 4)])
def test_min_max_buckets_match_a_direct_computation(n: int, max_points: int) -> None:
    rng = np.random.default_rng(n)
    values = np.cumsum(rng.normal(size=n))
    kept = min_max_indices(values.tolist(), max_points)
    assert kept == _direct(values, max_points)
    assert len(kept) <= max_points and kept[0] == 0 and kept[-1] == n - 1
    assert kept == sorted(kept)
    # the extremes of the whole series are among the points kept
    assert int(np.argmin(values[1:-1])) + 1 in kept and int(np.argmax(values[1:-1])) + 1 in kept


def test_a_spike_survives_where_every_nth_point_would_lose_it() -> None:
    values = [0.0] * 100_000
    values[12_345] = 50.0
    points = [(s, 1000 + s, v) for s, v in enumerate(values)]
    sampled = downsample(points, 200)
    assert (12_345, 13_345, 50.0) in sampled and len(sampled) <= 200
    assert sampled[0] == points[0] and sampled[-1] == points[-1]


def test_short_series_are_whole_and_nan_only_where_a_bucket_has_no_number() -> None:
    points = [(s, s, float(s)) for s in range(10)]
    assert downsample(points, 10) == points
    values: list[float | None] = [1.0, None, None, None, None, 3.0, None, 2.0, 5.0, None, 4.0]
    # buckets 1..4 (all NaN: its first is kept) and 5..9 (min 2.0 at 7, max 5.0 at 8)
    assert min_max_indices(values, 6) == [0, 1, 7, 8, 10]
    with pytest.raises(InvalidInputError):
        downsample(points, 3)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TrackingService]:
    sql = SqlStore(f"sqlite:///{tmp_path / 'ember.db'}")
    sql.workspaces.create(Workspace(name="default", creation_time=time.time()))
    yield TrackingService(sql.tracking, ArtifactStore(str(tmp_path / "artifacts")))
    sql.close()


def test_sampled_histories_of_every_metric_of_a_run(service: TrackingService) -> None:
    rid = service.create_run("default", experiment_id="0").info.run_id
    random.seed(7)
    loss = [random.random() for _ in range(5000)]
    for start in range(0, 5000, 1000):
        service.log_batch("default", rid, [Metric("loss", loss[s], 10 * s, s)
                                           for s in range(start, start + 1000)])
    service.log_batch("default", rid, [Metric("acc", 0.5, 1, 0), Metric("acc", math.nan, 2, 1)])
    series = service.sampled_metric_histories("default", rid, max_points=100)
    assert [(k, total) for k, total, _ in series] == [("acc", 2), ("loss", 5000)]
    assert series[0][2] == [(0, 1, 0.5), (1, 2, None)]
    points = series[1][2]
    direct = _direct(np.array(loss), 100)
    assert points == [(s, 10 * s, loss[s]) for s in direct]
    only = service.sampled_metric_histories("default", rid, max_points=100, keys=["acc"])
    assert [k for k, _, _ in only] == ["acc"]
    with pytest.raises(InvalidInputError):
        service.sampled_metric_histories("default", rid, max_points=2)
