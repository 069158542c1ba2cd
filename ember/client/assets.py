"""``client.data`` and ``client.environments``."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ember.artifacts.uris import is_remote_uri
from ember.client.convert import data_from_json, environment_from_json
from ember.client.http import Http
from ember.client.uploads import upload
from ember.entities.data import DataAsset
from ember.entities.environments import Environment
from ember.entities.names import check_name


class DataOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def create_or_update(self, data: DataAsset, show_progress: bool | None = None) -> DataAsset:
        if not data.path.startswith("azureml:") and not is_remote_uri(data.path):
            data = replace(data, path=upload(self._http, "data", Path(data.path),
                                             f"data {data.name!r}", show_progress))
        body = {k: v for k, v in asdict(data).items() if k != "creation_time"}
        return data_from_json(self._http.json("POST", self._http.ws("/data"), json=body))

    def get(self, name: str, version: str | None = None, label: str | None = None) -> DataAsset:
        params = {"version": str(version)} if version else {}
        return data_from_json(self._http.json("GET", self._http.ws(f"/data/{name}"),
                                              params=params))

    def list(self, name: str | None = None) -> list[DataAsset]:
        params = {"name": name} if name else {}
        return [data_from_json(d) for d in
                self._http.json("GET", self._http.ws("/data"), params=params)]


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


class DatastoreOperations:
    """``client.datastores``: named roots that ``azureml://datastores/<name>/paths/...`` use."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create_or_update(self, name: str, root: str, *, description: str = "",
                         tags: dict[str, str] | None = None) -> dict[str, Any]:
        check_name("datastore", name)
        body = {"name": name, "root": root, "description": description, "tags": tags or {}}
        return self._http.json("PUT", self._http.ws(f"/datastores/{quote(name, safe='')}"),  # type: ignore[no-any-return]
                               json=body)

    def get(self, name: str) -> dict[str, Any]:
        return self._http.json("GET", self._http.ws(f"/datastores/{quote(name, safe='')}"))  # type: ignore[no-any-return]

    def list(self) -> list[dict[str, Any]]:
        return self._http.json("GET", self._http.ws("/datastores"))  # type: ignore[no-any-return]
