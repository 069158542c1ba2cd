"""``client.data`` and ``client.environments``."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from ember.artifacts.uris import is_remote_uri
from ember.client.convert import data_from_json
from ember.client.http import Http
from ember.client.uploads import upload
from ember.entities.data import DataAsset


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
