"""``client.components``: register, get, list, archive and restore component versions; with a
registry (``MLClient(registry_name="azureml")``), get and list that registry's components (Ember's
built-in fine-tuning and evaluation components; read-only)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ember.client.dsl import ComponentFunc
from ember.client.http import Http
from ember.client.uploads import upload
from ember.entities.components import Component
from ember.errors import InvalidInputError, PermissionDeniedError


def component_to_json(comp: Component) -> dict[str, Any]:
    body = comp.to_dict()
    for key in ("archived", "creation_time"):
        body.pop(key)
    if isinstance(body["environment"], dict):
        body["environment"].pop("creation_time", None)
    return body


def _snapshot_folder(code: str | None, includes: list[str], into: Path) -> Path:
    """A folder with the code's contents plus each additional include under its basename."""
    if code is not None:
        src = Path(code)
        if src.is_dir():
            shutil.copytree(src, into, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copy2(src, into / src.name)
    for include in includes:
        src = Path(include)
        if not src.exists():
            raise InvalidInputError(f"additional include {include} does not exist")
        dest = into / src.name
        if dest.exists():
            raise InvalidInputError(
                f"additional include {include}: '{src.name}' already exists in the code folder")
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True)
        else:
            shutil.copy2(src, dest)
    return into


def upload_component_code(http: Http, component: Component,
                          show_progress: bool | None = None, *,
                          base: str | None = None) -> Component:
    """A copy of ``component`` whose local code (plus additional includes) is uploaded (to
    ``base``'s uploads: see :func:`ember.client.uploads.upload`)."""
    comp = replace(component)
    local_code = comp.code is not None and not comp.code.startswith("codes/")
    if comp.additional_includes or local_code:
        code = comp.code if local_code else None
        if comp.code is not None and not local_code:
            raise InvalidInputError("additional_includes need a local code folder")
        if not comp.additional_includes:
            comp.code = upload(http, "code", Path(str(code)), "code", show_progress, base=base)
        else:
            with tempfile.TemporaryDirectory(prefix="ember-component-") as tmp:
                folder = _snapshot_folder(code, comp.additional_includes, Path(tmp))
                comp.code = upload(http, "code", folder, "code", show_progress, base=base)
            comp.additional_includes = [Path(p).name for p in comp.additional_includes]
    return comp


class ComponentOperations:
    def __init__(self, http: Http, registry: str | None = None) -> None:
        self._http = http
        self._registry = registry

    def _registry_base(self) -> str:
        return f"/api/v1/registries/{quote(str(self._registry), safe='')}"

    def _base(self) -> str:
        if self._registry:
            return f"{self._registry_base()}/components"
        return self._http.ws("/components")

    def _refuse_write(self, what: str) -> None:
        if self._registry:
            raise PermissionDeniedError(f"registry {self._registry!r}: cannot {what} (only "
                                        "new versions are registered in a registry)")

    def create_or_update(self, component: Component | ComponentFunc,
                         show_progress: bool | None = None) -> Component:
        """Upload the local code (with its additional includes) and register a version.
        ``component`` may be what ``load_component`` returns, as in azure-ai-ml."""
        if isinstance(component, ComponentFunc):
            component = component.component
        if self._registry:   # the code goes to the registry's uploads ("azureml" refuses)
            comp = upload_component_code(self._http, component, show_progress,
                                         base=self._registry_base())
        else:
            comp = upload_component_code(self._http, component, show_progress)
        return Component.from_dict(self._http.json("POST", self._base(),
                                                   json=component_to_json(comp)))

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Component:
        """A version, or the latest non-archived one (``version`` None or label "latest")."""
        if label not in (None, "latest"):
            raise InvalidInputError(f"label {label!r}: only the 'latest' label is supported")
        params = {"version": str(version)} if version else {}
        return Component.from_dict(self._http.json(
            "GET", f"{self._base()}/{quote(name, safe='')}", params=params))

    def list(self, name: str | None = None, *, include_archived: bool = False) -> list[Component]:
        params: dict[str, Any] = {"name": name} if name else {}
        if include_archived:
            params["include_archived"] = "true"
        return [Component.from_dict(d) for d in
                self._http.json("GET", self._base(), params=params)]

    def archive(self, name: str, version: str) -> Component:
        return self._set(name, version, "archive")

    def restore(self, name: str, version: str) -> Component:
        return self._set(name, version, "restore")

    def _set(self, name: str, version: str, action: str) -> Component:
        self._refuse_write(f"{action} component {name!r}")
        path = f"/components/{quote(name, safe='')}/versions/{quote(str(version), safe='')}"
        return Component.from_dict(self._http.json("POST", self._http.ws(f"{path}/{action}")))
