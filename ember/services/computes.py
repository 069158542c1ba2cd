"""Compute targets: the built-in ``local`` and registered Ray clusters (``az ml compute``)."""

from __future__ import annotations

import builtins
import importlib.util
import sys
from typing import Any

import httpx
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
from ember.entities.jobs import JobStatus
from ember.errors import ConflictError, InvalidInputError, NotFoundError, UnsupportedError
from ember.store.computes import ComputeStore
from ember.store.jobs import JobStore
from ember.store.online_endpoints import OnlineEndpointStore


def ray_installed() -> bool:
    """Whether the server's Python can import Ray."""
    if "ray" in sys.modules:   # imported already, or blocked (None)
        return sys.modules["ray"] is not None
    return importlib.util.find_spec("ray") is not None


def cluster_status(address: str, timeout: float = 3.0) -> dict[str, Any]:
    """What a Ray cluster's dashboard says of it now: ``{"state": "Running", "ray_version",
    "nodes", "cpus", "gpus"}``, or ``{"state": "Unreachable", "error"}``."""
    base = address.rstrip("/")
    try:
        with httpx.Client(timeout=timeout) as http:
            version = http.get(f"{base}/api/version").raise_for_status().json()
            summary = http.get(f"{base}/nodes", params={"view": "summary"}
                               ).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"state": "Unreachable", "error": f"{type(exc).__name__}: {exc}"[:300]}
    nodes = [n.get("raylet") or {} for n in (summary.get("data") or {}).get("summary") or []]
    alive = [n for n in nodes if n.get("state") == "ALIVE"]

    def total(key: str) -> float:
        return float(sum((n.get("resourcesTotal") or {}).get(key, 0) for n in alive))

    return {"state": "Running", "ray_version": str(version.get("ray_version", "")),
            "nodes": len(alive), "cpus": total("CPU"), "gpus": total("GPU")}


class ComputeService:
    def __init__(self, computes: ComputeStore, local_capacity: int, *,
                 jobs: JobStore | None = None,
                 deployments: OnlineEndpointStore | None = None) -> None:
        self.computes = computes
        self.local_capacity = local_capacity
        self.jobs = jobs                  # to refuse deleting a compute still in use
        self.deployments = deployments

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

    def get(self, workspace: str, name: str, *, live: bool = False) -> Compute:
        """A compute; with ``live``, a Ray compute's cluster status read from its dashboard."""
        if name == LOCAL_COMPUTE:
            return self.local()
        compute = self.computes.get(workspace, name)
        if live and compute.type == "ray":
            compute.status = cluster_status(compute.address)
        return compute

    def list(self, workspace: str) -> list[Compute]:
        return [self.local(), *self.computes.list(workspace)]

    def delete(self, workspace: str, name: str) -> None:
        if name == LOCAL_COMPUTE:
            raise InvalidInputError(f"the compute {LOCAL_COMPUTE!r} is built in (this machine) "
                                    "and cannot be deleted")
        self.computes.get(workspace, name)   # NotFoundError first
        users = self.in_use(workspace, name)
        if users:
            shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
            raise ConflictError(f"compute {name!r} is in use by {shown}; cancel the jobs and "
                                "delete the deployments first (their runs on the cluster would "
                                "be left unwatched)")
        self.computes.delete(workspace, name)

    def in_use(self, workspace: str, name: str) -> builtins.list[str]:
        """What in ``workspace`` runs on the compute ``name`` now: its unfinished jobs and its
        online deployments."""
        users: builtins.list[str] = []
        if self.jobs is not None:
            unfinished = [s for s in JobStatus.ALL if s not in JobStatus.TERMINAL]
            users += [f"job {job.name!r} ({job.status})"
                      for ws, job in self.jobs.list_in_status(unfinished, with_history=False)
                      if ws == workspace and compute_name_of(job.compute or "") == name]
        if self.deployments is not None:
            users += [f"online deployment {d.endpoint_name!r}/{d.name!r}"
                      for _, d in self.deployments.list_deployments(workspace)
                      if compute_name_of(d.compute or "") == name]
        return users

    def resolve(self, workspace: str, ref: str) -> Compute | None:
        """The registered Ray compute a job's ``compute`` names (``azureml:<name>`` or
        ``<name>``); None for ``local``, an empty reference or an unknown name (such a job runs
        locally, with a notice in its log)."""
        name = compute_name_of(ref or "")
        if not name or name == LOCAL_COMPUTE:
            return None
        try:
            compute = self.computes.get(workspace, name)
        except NotFoundError:
            return None
        return compute if compute.type == "ray" else None

    def check_job_compute(self, workspace: str, ref: str, what: str) -> None:
        """Refuse a job that names a registered compute it cannot run on: a Ray compute while
        the server has no Ray. Unknown names pass (the job runs locally, with a notice)."""
        compute = self.resolve(workspace, ref)
        if compute is not None and not ray_installed():
            raise UnsupportedError(f"{what} names the Ray compute {compute.name!r}, but Ray is "
                                   f"not installed on the Ember server: {RAY_EXTRA_HINT}")
