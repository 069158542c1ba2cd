"""Compute targets: the built-in ``local`` and registered Ray clusters (``az ml compute``)."""

from __future__ import annotations

import importlib.util
import time

from ember.entities.computes import (
    AZURE_ONLY_TYPES,
    COMPUTE_TYPES,
    LOCAL_COMPUTE,
    RAY_EXTRA_HINT,
    Compute,
    compute_name_of,
    ray_address_problem,
)
from ember.entities.names import check_name
from ember.errors import InvalidInputError, NotFoundError, UnsupportedError
from ember.store.computes import ComputeStore


def ray_installed() -> bool:
    """Whether the server's Python can import Ray."""
    return importlib.util.find_spec("ray") is not None


class ComputeService:
    def __init__(self, computes: ComputeStore, local_capacity: int) -> None:
        self.computes = computes
        self.local_capacity = local_capacity

    def local(self) -> Compute:
        return Compute(name=LOCAL_COMPUTE, type="local",
                       description="the machine the Ember server runs on",
                       capacity=self.local_capacity)

    def create_or_update(self, workspace: str, compute: Compute) -> Compute:
        check_name("compute", compute.name)
        if compute.type in AZURE_ONLY_TYPES or compute.type not in COMPUTE_TYPES:
            raise UnsupportedError(f"compute type {compute.type!r} is not supported; "
                                   f"supported types: {', '.join(COMPUTE_TYPES)}")
        if compute.type == "local" or compute.name == LOCAL_COMPUTE:
            raise InvalidInputError(f"the compute {LOCAL_COMPUTE!r} (type local, this machine) "
                                    "is built in; only 'type: ray' computes can be created")
        problem = ray_address_problem(compute.address)
        if problem:
            raise InvalidInputError(f"compute {compute.name!r}: address {problem}")
        if compute.max_concurrent_jobs is not None and compute.max_concurrent_jobs < 1:
            raise InvalidInputError(f"compute {compute.name!r}: max_concurrent_jobs must be >= 1")
        for key, value in compute.resources.items():
            if value < 0:
                raise InvalidInputError(f"compute {compute.name!r}: resources.{key} must be >= 0")
        if not ray_installed():
            raise UnsupportedError(f"compute {compute.name!r} is type ray, but Ray is not "
                                   f"installed on the Ember server: {RAY_EXTRA_HINT}")
        compute.creation_time = compute.creation_time or time.time()
        return self.computes.create_or_update(workspace, compute)

    def get(self, workspace: str, name: str) -> Compute:
        if name == LOCAL_COMPUTE:
            return self.local()
        return self.computes.get(workspace, name)

    def list(self, workspace: str) -> list[Compute]:
        return [self.local(), *self.computes.list(workspace)]

    def delete(self, workspace: str, name: str) -> None:
        if name == LOCAL_COMPUTE:
            raise InvalidInputError(f"the compute {LOCAL_COMPUTE!r} is built in (this machine) "
                                    "and cannot be deleted")
        self.computes.delete(workspace, name)

    def check_job_compute(self, workspace: str, ref: str, what: str) -> None:
        """Refuse a job that names a registered compute it cannot run on yet.

        Unknown names pass (the job runs locally with a notice, as before); ``local`` passes.
        """
        name = compute_name_of(ref or "")
        if not name or name == LOCAL_COMPUTE:
            return
        try:
            compute = self.computes.get(workspace, name)
        except NotFoundError:
            return
        if compute.type == "ray":
            raise UnsupportedError(f"{what} names the Ray compute {name!r}: running jobs on Ray "
                                   "computes is not built yet; use compute 'local'")
