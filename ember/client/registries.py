"""``client.registries``: registries (Azure ML registries), which share models, components and
environments across workspaces. ``MLClient(registry_name="R")`` acts on one registry's assets;
a workspace's jobs and deployments name them as
``azureml://registries/R/{models,components,environments}/<name>/versions/<v>``."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from ember.client.http import Http
from ember.entities.codec import from_plain
from ember.entities.registries import Registry


def registry_from_json(d: dict[str, Any]) -> Registry:
    return from_plain(Registry, {k: d[k] for k in ("name", "description", "tags",
                                                   "creation_time") if k in d})


class RegistryOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    @staticmethod
    def _url(name: str, tail: str = "") -> str:
        return f"/api/v1/registries/{quote(name, safe='')}{tail}"

    def create_or_update(self, registry: Registry) -> Registry:
        """Create a registry (server admins; ``azureml`` is reserved). Registries are not
        updated: an existing name raises AlreadyExistsError."""
        body = {"name": registry.name, "description": registry.description,
                "tags": registry.tags}
        return registry_from_json(self._http.json("POST", "/api/v1/registries", json=body))

    def create(self, name: str, description: str = "") -> Registry:
        return self.create_or_update(Registry(name=name, description=description))

    def get(self, name: str) -> Registry:
        return registry_from_json(self._http.json("GET", self._url(name)))

    def list(self) -> list[Registry]:
        """``azureml`` and the registries the caller has a role in (every one, for an admin)."""
        return [registry_from_json(d) for d in self._http.json("GET", "/api/v1/registries")]

    def assign_role(self, name: str, user: str, role: str) -> dict[str, Any]:
        """Give ``user`` a role on registry ``name`` ("AzureML Registry User" reads and uses its
        assets; "Contributor" and "Owner" write them; "Owner" assigns its roles)."""
        return self._http.json(  # type: ignore[no-any-return]
            "POST", self._url(name, "/roles"), json={"user": user, "role": role})

    def list_roles(self, name: str, user: str | None = None) -> builtins.list[dict[str, Any]]:
        params = {"user": user} if user else {}
        return self._http.json(  # type: ignore[no-any-return]
            "GET", self._url(name, "/roles"), params=params)

    def remove_role(self, name: str, user: str, role: str) -> None:
        self._http.json("DELETE", self._url(name, "/roles"),
                        params={"user": user, "role": role})
