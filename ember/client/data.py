"""``client.data`` and ``client.environments``."""

from __future__ import annotations

import builtins
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

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

    def _version_url(self, name: str, version: str, tail: str) -> str:
        return self._http.ws(f"/data/{quote(name, safe='')}/versions/"
                             f"{quote(str(version), safe='')}{tail}")

    def list_files(self, name: str, version: str) -> builtins.list[str]:
        """The version's files (the first 1000), relative to its path."""
        found = self._http.json("GET", self._version_url(name, version, "/files"))
        return [f["path"] for f in found["files"]]

    def read_file(self, name: str, version: str, path: str = "") -> bytes:
        """One file of the version (``path`` relative to its path; empty for a uri_file)."""
        path = path or self.list_files(name, version)[0]
        tail = f"/files/{quote(path)}"
        return self._http.request("GET", self._version_url(name, version, tail)).content

    def preview(self, name: str, version: str, path: str | None = None,
                rows: int = 20) -> dict[str, Any]:
        """The first ``rows`` rows (at most 200) of a CSV, TSV or Parquet file of the version:
        ``path``, else the file itself, its MLTable's first file or its folder's first
        tabular file. Keys: path, format, columns, rows (cells as text), truncated, note,
        files, file_count."""
        params: dict[str, Any] = {"rows": rows}
        if path:
            params["path"] = path
        found: dict[str, Any] = self._http.json(
            "GET", self._version_url(name, version, "/preview"), params=params)
        return found
