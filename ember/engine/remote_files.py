"""A job's files as a job on another machine reaches them: through the server.

A job on a Ray compute cannot see the server's datastores, so its runner lists each input here,
downloads it file by file, and uploads its named outputs file by file when its command ends
(``runner.fetch_input`` and ``runner.upload_folder``). Every path is confined to the input's or
output's own location.
"""

from __future__ import annotations

from typing import IO, Any

import fsspec

from ember.artifacts.paths import safe_relpath
from ember.artifacts.uris import is_azureml_uri
from ember.engine.jobs import JobService
from ember.entities.jobs import Job, JobStatus
from ember.errors import ConflictError, InvalidInputError, NotFoundError
from ember.services.datastores import DatastoreService


class RemoteJobFiles:
    def __init__(self, jobs: JobService, datastores: DatastoreService) -> None:
        self.jobs = jobs
        self.datastores = datastores

    def _input_uri(self, workspace: str, job: Job, name: str) -> str:
        inp = job.inputs.get(name)
        if inp is None or inp.is_literal or not inp.path or inp.mode == "direct":
            raise NotFoundError(f"job {job.name!r} has no input {name!r} to download")
        return inp.path

    def list_input(self, workspace: str, job_name: str, name: str) -> dict[str, Any]:
        """``{"kind": "file"|"folder", "files": [{"path", "size"}]}`` of input ``name``; a
        file's one entry is its own name."""
        job = self.jobs.get(workspace, job_name, with_history=False)
        uri = self._input_uri(workspace, job, name)
        if is_azureml_uri(uri):
            store, rel = self.datastores.locate_uri(workspace, uri, self.jobs.output_uri)
            if store.isdir(rel):
                files = [{"path": f, "size": store.size(f"{rel.rstrip('/')}/{f}")}
                         for f in store.walk_files(rel)]
                return {"kind": "folder", "files": files}
            if not store.exists(rel):
                raise NotFoundError(f"input {name!r}: {uri} does not exist")
            return {"kind": "file", "files": [{"path": rel.rstrip("/").rsplit("/", 1)[-1],
                                               "size": store.size(rel)}]}
        fs, path = fsspec.core.url_to_fs(uri)
        if fs.isdir(path):
            root = path.rstrip("/")
            return {"kind": "folder",
                    "files": [{"path": f[len(root) + 1:], "size": fs.size(f)}
                              for f in sorted(fs.find(root))]}
        return {"kind": "file", "files": [{"path": path.rstrip("/").rsplit("/", 1)[-1] or name,
                                           "size": fs.size(path)}]}

    def open_input(self, workspace: str, job_name: str, name: str, path: str) -> IO[bytes]:
        """One file of input ``name``: ``path`` as :meth:`list_input` named it."""
        job = self.jobs.get(workspace, job_name, with_history=False)
        uri = self._input_uri(workspace, job, name)
        rel_path = safe_relpath(path, allow_empty=False)
        if is_azureml_uri(uri):
            store, rel = self.datastores.locate_uri(workspace, uri, self.jobs.output_uri)
            if store.isdir(rel):
                return store.open_read(f"{rel.rstrip('/')}/{rel_path}")
            if rel_path != rel.rstrip("/").rsplit("/", 1)[-1]:
                raise NotFoundError(f"input {name!r} is one file; it has no {path!r}")
            return store.open_read(rel)
        fs, base = fsspec.core.url_to_fs(uri)
        if fs.isdir(base):
            return fs.open(f"{base.rstrip('/')}/{rel_path}", "rb")  # type: ignore[no-any-return]
        if rel_path != (base.rstrip("/").rsplit("/", 1)[-1] or name):
            raise NotFoundError(f"input {name!r} is one file; it has no {path!r}")
        return fs.open(base, "rb")  # type: ignore[no-any-return]

    def put_output(self, workspace: str, job_name: str, name: str, path: str,
                   data: bytes) -> None:
        """Write one file of output ``name`` where the output lives (a ``uri_file`` output is
        its one file, under its own name)."""
        job = self.jobs.get(workspace, job_name, with_history=False)
        if job.status in JobStatus.TERMINAL:
            raise ConflictError(f"job {job_name!r} is {job.status}; its outputs are final")
        out = job.outputs.get(name)
        if out is None or not out.path or out.mode == "direct" or not is_azureml_uri(out.path):
            raise NotFoundError(f"job {job_name!r} has no output {name!r} to upload to")
        rel_path = safe_relpath(path, allow_empty=False)
        store, rel = self.datastores.locate_uri(workspace, out.path, self.jobs.output_uri)
        if out.type == "uri_file":
            own = rel.rstrip("/").rsplit("/", 1)[-1]
            if rel_path != own:
                raise InvalidInputError(f"output {name!r} is one file, {own!r}; the job wrote "
                                        f"{path!r} instead")
            store.write_bytes(rel, data)
            return
        store.write_bytes(f"{rel.rstrip('/')}/{rel_path}", data)
