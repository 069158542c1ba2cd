"""Compute targets: where jobs run (``az ml compute``).

``local`` is built in: the machine the Ember server runs on, always present, never deleted; its
capacity is the server's job slots (``max_concurrent_jobs``). ``ray`` is a Ray cluster reached
through its job-submission address; the executor that runs jobs there is later work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

LOCAL_COMPUTE = "local"
COMPUTE_TYPES = ("local", "ray")
# Azure ML's other compute types: recognised so they are refused by name, not as a typo.
AZURE_ONLY_TYPES = ("amlcompute", "computeinstance", "kubernetes", "virtualmachine",
                    "synapsespark", "attachedcompute", "serverless")
RAY_EXTRA_HINT = "pip install 'ember-ml[ray]'"


@dataclass
class Compute:
    """A compute target.

    ``address``: (ray) the cluster's job-submission address, an http(s) URL with host and port
    (``http://127.0.0.1:8265``). ``max_concurrent_jobs``: (ray) at most this many Ember jobs run
    on the cluster at once (None: the cluster's own limit). ``resources``: (ray) the Ray resources
    each job asks for (``{"CPU": 1, "GPU": 0}``), as Ray's ``entrypoint_resources``.
    ``capacity`` (local): the server's job slots, reported, not set.
    """

    name: str
    type: str
    description: str = ""
    address: str = ""
    max_concurrent_jobs: int | None = None
    resources: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0
    capacity: int | None = None
    provisioning_state: str = "Succeeded"
    # (ray, read live by ``show``) the cluster as its dashboard reports it now: ``state``
    # (Running or Unreachable), ``ray_version``, alive ``nodes``, total ``cpus``/``gpus``
    status: dict[str, Any] | None = None


def ray_address_problem(address: str) -> str | None:
    """Why ``address`` is not a Ray job-submission address (None when it is one)."""
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        return f"'{address}' is not a URL"
    if parts.scheme not in ("http", "https"):
        return f"'{address}' must be an http:// or https:// URL (e.g. http://127.0.0.1:8265)"
    if not parts.hostname:
        return f"'{address}' has no host"
    if port is None:
        return f"'{address}' has no port (Ray's dashboard listens on 8265 by default)"
    return None


def compute_name_of(ref: str) -> str:
    """The compute name in a job's ``compute`` (``azureml:<name>`` or ``<name>``)."""
    return ref.removeprefix("azureml:")
