"""``client.data`` and ``client.environments``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ember.client.http import Http
from ember.entities.names import check_name


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
