"""``client.compute``: the computes jobs can run on (azure-ai-ml's ``ml_client.compute``).

``local`` (this machine, the server's job slots) is built in; ``type: ray`` computes are Ray
clusters registered by their job-submission address.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ember.client.http import Http
from ember.client.online_endpoints import Poller
from ember.entities.computes import LOCAL_COMPUTE

__all__ = ["LOCAL_COMPUTE", "Compute", "ComputeOperations", "load_compute"]


@dataclass(frozen=True)
class Compute:
    """A compute target, with azure-ai-ml's ``name``, ``type``, ``description`` and
    ``provisioning_state``; for ``type: ray`` the cluster's job-submission ``address`` and its
    optional limits (``max_concurrent_jobs``, per-job ``resources``); for ``local`` its
    ``capacity`` (the server's job slots)."""

    name: str
    type: str
    description: str = ""
    provisioning_state: str = "Succeeded"
    address: str = ""
    max_concurrent_jobs: int | None = None
    resources: dict[str, float] = field(default_factory=dict)
    capacity: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # (ray, from get/show) the cluster now: state (Running or Unreachable), ray_version,
    # nodes, cpus, gpus
    status: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Compute:
        return cls(name=d["name"], type=d["type"], description=d.get("description", ""),
                   provisioning_state=d.get("provisioning_state", "Succeeded"),
                   address=d.get("address", ""),
                   max_concurrent_jobs=d.get("max_concurrent_jobs"),
                   resources=dict(d.get("resources") or {}), capacity=d.get("capacity"),
                   tags=dict(d.get("tags") or {}), status=d.get("status"))

    def to_body(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "description": self.description,
                "address": self.address, "max_concurrent_jobs": self.max_concurrent_jobs,
                "resources": dict(self.resources), "tags": dict(self.tags)}


def load_compute(source: str | Path) -> Compute:
    """A compute YAML file (``az ml compute create -f``); SpecError names file, line and key."""
    from ember.specs.computes import load_compute_spec

    c = load_compute_spec(Path(source))
    return Compute(name=c.name, type=c.type, description=c.description, address=c.address,
                   max_concurrent_jobs=c.max_concurrent_jobs, resources=dict(c.resources),
                   tags=dict(c.tags))


class ComputeOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def _url(self, name: str = "") -> str:
        return self._http.ws("/computes" + (f"/{quote(name, safe='')}" if name else ""))

    def create_or_update(self, compute: Compute) -> Compute:
        """Register (or replace) a ``type: ray`` compute; ``local`` is built in."""
        return Compute.from_dict(self._http.json("PUT", self._url(compute.name),
                                                 json=compute.to_body()))

    def begin_create_or_update(self, compute: Compute) -> Poller[Compute]:
        done = self.create_or_update(compute)
        return Poller(lambda _timeout: done)

    def get(self, name: str) -> Compute:
        """The compute ``name``; raises NotFoundError when it is not registered."""
        return Compute.from_dict(self._http.json("GET", self._url(name)))

    def list(self) -> builtins.list[Compute]:
        return [Compute.from_dict(d) for d in self._http.json("GET", self._url())]

    def delete(self, name: str) -> None:
        """Unregister the compute (``local`` cannot be deleted)."""
        self._http.request("DELETE", self._url(name))

    def begin_delete(self, name: str) -> Poller[None]:
        self.delete(name)
        return Poller(lambda _timeout: None)
