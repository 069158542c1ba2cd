"""``client.data`` and ``client.environments``."""

from __future__ import annotations

from dataclasses import asdict

from ember.client.convert import environment_from_json
from ember.client.http import Http
from ember.entities.environments import Environment


class EnvironmentOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def create_or_update(self, env: Environment) -> Environment:
        body = {k: v for k, v in asdict(env).items() if k != "creation_time"}
        return environment_from_json(self._http.json("POST", self._http.ws("/environments"),
                                                     json=body))

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Environment:
        params = {"version": str(version)} if version else {}
        return environment_from_json(self._http.json(
            "GET", self._http.ws(f"/environments/{name}"), params=params))

    def list(self, name: str | None = None) -> list[Environment]:
        params = {"name": name} if name else {}
        return [environment_from_json(d) for d in
                self._http.json("GET", self._http.ws("/environments"), params=params)]
