"""Registries (Azure ML registries): models, components and environments shared by every
workspace of the server, reached as ``azureml://registries/<r>/<kind>/<name>/versions/<v>``
(or ``/labels/latest``).

``azureml`` is the built-in, read-only registry (the model catalog, the curated environments,
the built-in components). A user registry is a ``registries`` row and a *backing workspace*
named ``registry.<name>``: its assets are stored as that workspace's, so the model, component
and environment stores hold them unchanged. Workspace names refuse ``.``, so no user workspace
can take a backing name, and the API never addresses a backing workspace as a workspace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUILTIN_REGISTRY = "azureml"
BACKING_PREFIX = "registry."


@dataclass
class Registry:
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0


def is_builtin_registry(name: str) -> bool:
    return name.lower() == BUILTIN_REGISTRY


def backing_workspace(registry: str) -> str:
    """The workspace that holds a user registry's assets."""
    return BACKING_PREFIX + registry


def is_backing_workspace(workspace: str) -> bool:
    return workspace.startswith(BACKING_PREFIX)


def registry_of(workspace: str) -> str | None:
    """The registry a backing workspace belongs to, or None for a user workspace."""
    return workspace[len(BACKING_PREFIX):] if is_backing_workspace(workspace) else None
