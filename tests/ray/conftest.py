"""Fixtures for the Ray tests: one real loopback cluster per test session (see ``cluster.py``).

Every test module here sets ``pytestmark = pytest.mark.xdist_group("ray")``, so under ``pytest -n 2 --dist loadgroup`` they all
run on one worker and share that one cluster. Ray is a test dependency: without it these tests
fail at the import below, never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray  # noqa: F401  - a missing Ray must fail the run, not skip it

from tests.ray.cluster import RayCluster, start_cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = start_cluster(num_cpus=2)
    try:
        yield cluster
    finally:
        cluster.stop()
