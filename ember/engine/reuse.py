"""Step reuse: the content key of a deterministic step.

Two steps share a key when their command, code snapshot, environment, environment variables,
literal inputs, input *data content* and output declarations match: then the later step is not
run, it points at the earlier step's outputs. Data inputs are hashed by content (relative path
and SHA-256 of every file), not by URI, so a re-uploaded identical folder or an upstream step
that produced the same bytes still matches, and a changed file does not. File digests are
cached by (path, size, mtime) for the life of the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from ember.artifacts.uris import is_azureml_uri
from ember.entities.environments import Environment
from ember.entities.jobs import Job
from ember.services.datastores import DatastoreService

# Bump when the key's recipe changes, so old keys stop matching. 2: every step has the
# default `artifacts` output (issue 10); a step recorded before it has none to hand on.
REUSE_VERSION = 2


class DataHasher:
    """Content digests of job inputs (datastore URIs resolved through ``datastores``)."""

    def __init__(self, datastores: DatastoreService, output_uri: Any) -> None:
        self.datastores = datastores
        self.output_uri = output_uri
        self._files: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def digest(self, workspace: str, uri: str) -> str:
        if not is_azureml_uri(uri):
            return "uri:" + uri   # http(s), abfss...: identity by address
        store, rel = self.datastores.locate_uri(workspace, uri, self.output_uri)
        local = store.local_path(rel)
        h = hashlib.sha256()
        if local is not None:
            for relpath, digest in self._local_tree(local):
                h.update(f"{relpath}\0{digest}\n".encode())
            return h.hexdigest()
        if not store.isdir(rel):
            h.update(_stream_digest(store.open_read(rel)).encode())
            return h.hexdigest()
        for relpath in sorted(store.walk_files(rel)):
            digest = _stream_digest(store.open_read(f"{rel.rstrip('/')}/{relpath}"))
            h.update(f"{relpath}\0{digest}\n".encode())
        return h.hexdigest()

    def _local_tree(self, root: Path) -> list[tuple[str, str]]:
        if root.is_file():
            return [(root.name, self._file(root))]
        out: list[tuple[str, str]] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                path = Path(dirpath) / fn
                out.append((path.relative_to(root).as_posix(), self._file(path)))
        return out

    def _file(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._files.get(key)
        if cached is not None:
            return cached
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        digest = h.hexdigest()
        with self._lock:
            self._files[key] = digest
        return digest


def _stream_digest(fh: IO[bytes]) -> str:
    h = hashlib.sha256()
    with fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def reuse_key(workspace: str, job: Job, hasher: DataHasher) -> str:
    """The key of ``job`` (a step before its outputs get default paths) for reuse lookups."""
    env: Any = job.environment
    if isinstance(env, Environment):
        env = {k: v for k, v in asdict(env).items() if k not in ("creation_time", "name",
                                                                   "version")}
    inputs: dict[str, Any] = {}
    for name, inp in sorted(job.inputs.items()):
        if inp.is_literal:
            inputs[name] = {"type": inp.type, "value": inp.value}
        elif not inp.path:
            inputs[name] = None
        elif inp.mode == "direct":
            inputs[name] = {"type": inp.type, "mode": "direct", "uri": inp.path}
        else:
            inputs[name] = {"type": inp.type, "content": hasher.digest(workspace, inp.path)}
    payload = {
        "v": REUSE_VERSION,
        "command": job.command,
        "code": job.code,
        "environment": env,
        "environment_variables": dict(sorted(job.environment_variables.items())),
        "inputs": inputs,
        "outputs": {k: {"type": o.type, "mode": o.mode, "path": o.path}
                    for k, o in sorted(job.outputs.items())},
    }
    # How many processes run, and with which launcher, changes what a step does (keyed when
    # set).
    for key in ("distribution", "resources"):
        if getattr(job, key):
            payload[key] = getattr(job, key)
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()
