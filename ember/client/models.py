"""``client.models``: the model registry (``ember model ...`` is a thin layer over this)."""

from __future__ import annotations

import builtins
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ember.client.http import Http
from ember.client.uploads import upload
from ember.entities.codec import from_plain
from ember.entities.models import Model
from ember.entities.registries import is_builtin_registry
from ember.errors import InvalidInputError, UnsupportedError
from ember.specs.references import is_uri


def model_from_json(d: dict[str, Any]) -> Model:
    # The REST shape names the producing job as Azure does (job_name); the entity's run_id.
    return from_plain(Model, {**d, "run_id": d.get("job_name", "")})


class ModelOperations:
    """A workspace's models, or with ``registry`` (``MLClient(registry_name="R")``) a
    registry's: the built-in catalog ``azureml``, which is read-only (writes raise
    PermissionDeniedError), or a user registry's."""

    def __init__(self, http: Http, registry: str | None = None) -> None:
        self._http = http
        self._registry = registry

    def _base(self) -> str:
        if self._registry:
            return f"/api/v1/registries/{quote(self._registry, safe='')}/models"
        return self._http.ws("/models")

    def _url(self, name: str, tail: str = "") -> str:
        return f"{self._base()}/{quote(name, safe='')}{tail}"

    def create_or_update(self, model: Model, show_progress: bool | None = None) -> Model:
        """Register a new version. A local ``path`` (file or folder) is uploaded first (to the
        registry's uploads, for a registry); its base name is kept, so a folder ``model/`` is
        ``$AZUREML_MODEL_DIR/model`` when deployed."""
        builtin = self._registry is not None and is_builtin_registry(self._registry)
        if not model.path and not builtin:
            raise InvalidInputError(f"model {model.name!r} needs a path")
        # nothing is uploaded for the built-in registry: the server refuses the write
        if not builtin and not model.path.startswith("azureml:") and not is_uri(model.path):
            local = Path(model.path)
            if not local.exists():
                raise InvalidInputError(f"model {model.name!r}: {local} does not exist")
            base = (f"/api/v1/registries/{quote(self._registry, safe='')}"
                    if self._registry else None)
            uri = upload(self._http, "data", local, f"model {model.name!r}", show_progress,
                         base=base)
            model = replace(model, path=uri, source=str(local.resolve()))
        body = {"name": model.name, "version": model.version, "path": model.path,
                "source": model.source, "type": model.type, "description": model.description,
                "tags": model.tags, "properties": model.properties, "flavors": model.flavors,
                "stage": model.stage, "run_id": model.run_id}
        return model_from_json(self._http.json("POST", self._base(), json=body))

    def get(self, name: str, version: str | int | None = None,
            label: str | None = None) -> Model:
        """A version; ``label`` is ``latest`` or an alias; neither gives the latest."""
        params = {k: str(v) for k, v in (("version", version), ("label", label)) if v}
        return model_from_json(self._http.json("GET", self._url(name), params=params))

    def list(self, name: str | None = None, *, include_archived: bool = False) -> list[Model]:
        params: dict[str, str] = {"include_archived": str(include_archived).lower()}
        if name:
            params["name"] = name
        return [model_from_json(d) for d in
                self._http.json("GET", self._base(), params=params)]

    def update(self, name: str, version: str | int, *, description: str | None = None,
               tags: dict[str, str] | None = None, properties: dict[str, str] | None = None,
               stage: str | None = None) -> Model:
        body = {"description": description, "tags": tags, "properties": properties,
                "stage": stage}
        return model_from_json(self._http.json(
            "PATCH", self._url(name, f"/versions/{version}"),
            json={k: v for k, v in body.items() if v is not None}))

    def archive(self, name: str, version: str | int | None = None) -> builtins.list[Model]:
        """Archive one version, or every version when none is given."""
        params = {"version": str(version)} if version else {}
        return [model_from_json(d) for d in
                self._http.json("POST", self._url(name, "/archive"), params=params)]

    def restore(self, name: str, version: str | int | None = None) -> builtins.list[Model]:
        params = {"version": str(version)} if version else {}
        return [model_from_json(d) for d in
                self._http.json("POST", self._url(name, "/restore"), params=params)]

    def download(self, name: str, version: str | int, download_path: str | Path = ".") -> Path:
        """Write the version's files under ``download_path/<name>/`` (as ``az ml model
        download`` does); returns that folder."""
        if self._registry:
            model = self.get(name, version)
            raise UnsupportedError(
                f"model {name!r} of registry {self._registry!r} is not downloaded: its files "
                f"are on the server's machine at {model.path.removeprefix('file://')}")
        target = Path(download_path) / name
        files = self._http.json("GET", self._url(name, f"/versions/{version}/files"))
        for f in files:
            rel = Path(f["path"])
            if rel.is_absolute() or ".." in rel.parts:
                raise InvalidInputError(f"model {name!r}: refusing unsafe file path {rel}")
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            url = self._url(name, f"/versions/{version}/files/{quote(f['path'])}")
            with self._http.client.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._http.request("GET", url)   # raises the server's error
                with dest.open("wb") as out:
                    for chunk in resp.iter_bytes():
                        out.write(chunk)
        return target


def load_model(source: str | Path) -> Model:
    """A model YAML file as a :class:`Model` ready for ``client.models.create_or_update``."""
    from ember.specs.models import load_model_spec

    return load_model_spec(Path(source))
