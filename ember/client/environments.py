"""``client.data`` and ``client.environments``."""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import quote

from ember.client.convert import environment_from_json
from ember.client.http import Http
from ember.entities.environments import Environment


class EnvironmentOperations:
    """A workspace's environments, or with ``registry`` (``MLClient(registry_name="R")``) a
    user registry's."""

    def __init__(self, http: Http, registry: str | None = None) -> None:
        self._http = http
        self._registry = registry

    def _base(self) -> str:
        if self._registry:
            return f"/api/v1/registries/{quote(self._registry, safe='')}/environments"
        return self._http.ws("/environments")

    def create_or_update(self, env: Environment) -> Environment:
        body = {k: v for k, v in asdict(env).items() if k != "creation_time"}
        return environment_from_json(self._http.json("POST", self._base(), json=body))

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Environment:
        params = {"version": str(version)} if version else {}
        return environment_from_json(self._http.json(
            "GET", f"{self._base()}/{quote(name, safe='')}", params=params))

    def list(self, name: str | None = None) -> list[Environment]:
        params = {"name": name} if name else {}
        return [environment_from_json(d) for d in
                self._http.json("GET", self._base(), params=params)]
