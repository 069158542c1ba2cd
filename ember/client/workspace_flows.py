"""``client.workspace_flows``: prompt flows kept in the workspace (what the studio authors):
create one from a local folder or a template, read it, change its files and nodes, run it as a
flow-run job. A local flow folder is run with ``client.flow_runs`` / ``pf`` instead."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ember.client.http import Http
from ember.client.convert import job_from_json
from ember.entities.jobs import Job
from ember.errors import InvalidInputError

_SKIP = {".runs", "__pycache__", ".git"}


def read_folder(folder: Path) -> dict[str, str]:
    """A local flow folder's text files (path → text), caches and run folders left out."""
    folder = Path(folder)
    if not (folder / "flow.dag.yaml").is_file():
        raise InvalidInputError(f"{folder} has no flow.dag.yaml")
    files: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_dir() or any(part in _SKIP or part.startswith(".") for part in rel.parts):
            continue
        try:
            files[rel.as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError(f"{path}: a flow's files are text (UTF-8)") from None
    return files


class WorkspaceFlowOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def _url(self, name: str, tail: str = "") -> str:
        return self._http.ws(f"/flows/{quote(name, safe='')}{tail}")

    def create(self, name: str, folder: str | Path | None = None, *,
               template: str | None = None) -> dict[str, Any]:
        """Store the flow in ``folder`` (or a ``template``) as workspace flow ``name``."""
        body: dict[str, Any] = {"name": name}
        if folder is not None:
            body["files"] = read_folder(Path(folder))
        else:
            body["template"] = template or "python"
        return self._http.json("POST", self._http.ws("/flows"), json=body)  # type: ignore[no-any-return]

    def list(self) -> builtins.list[str]:
        return [f["name"] for f in self._http.json("GET", self._http.ws("/flows"))]

    def get(self, name: str) -> dict[str, Any]:
        """The flow: ``files``, ``dag`` (the YAML text), ``inputs``, ``outputs``, ``nodes``,
        ``edges`` (``error`` instead of a graph when flow.dag.yaml does not load)."""
        return self._http.json("GET", self._url(name))  # type: ignore[no-any-return]

    def read_file(self, name: str, path: str) -> str:
        return self._http.request("GET", self._url(name, f"/files/{quote(path)}")).text

    def write_file(self, name: str, path: str, content: str) -> dict[str, Any]:
        return self._http.json(  # type: ignore[no-any-return]
            "PUT", self._url(name, f"/files/{quote(path)}"), json={"content": content})

    def add_node(self, name: str, node: str, *, type: str = "python",
                 inputs: dict[str, Any] | None = None, code: str | None = None,
                 source: str | None = None) -> dict[str, Any]:
        body = {"name": node, "type": type, "inputs": inputs or {}, "code": code,
                "source": source}
        return self._http.json("POST", self._url(name, "/nodes"), json=body)  # type: ignore[no-any-return]

    def update_node(self, name: str, node: str, *, inputs: dict[str, Any] | None = None,
                    activate: dict[str, Any] | None = None,
                    variant: str | None = None) -> dict[str, Any]:
        """Replace the node's inputs and/or activate condition (``{}`` removes it); with
        ``variant``, that variant's inputs."""
        return self._http.json(  # type: ignore[no-any-return]
            "PATCH", self._url(name, f"/nodes/{quote(node, safe='')}"),
            json={"inputs": inputs, "activate": activate, "variant": variant})

    def remove_node(self, name: str, node: str) -> dict[str, Any]:
        return self._http.json(  # type: ignore[no-any-return]
            "DELETE", self._url(name, f"/nodes/{quote(node, safe='')}"))

    def delete(self, name: str) -> None:
        self._http.request("DELETE", self._url(name))

    def run(self, name: str, *, lines: builtins.list[dict[str, Any]] | None = None,
            data: str | None = None, run: str | None = None,
            column_mapping: dict[str, Any] | None = None, variant: str | None = None,
            display_name: str | None = None) -> Job:
        """Submit a flow run of the workspace flow (a job; ``client.flow_runs.details(job
        .name)`` reads its lines once it ends)."""
        body = {"lines": lines, "data": data, "run": run,
                "column_mapping": column_mapping or {}, "variant": variant,
                "display_name": display_name}
        return job_from_json(self._http.json("POST", self._url(name, "/runs"), json=body))
