"""Prompt flows kept in a workspace (the studio's flow authoring): create one from files or a
template, read it (its files and its graph), change a file, add, change or remove a node
(``flow.dag.yaml`` edited with ruamel.yaml, so comments and order stay), delete it, and run it.

A run is a flow-run job, as ``pf run create`` makes one (``client/flow_runs.py``): the flow's
files become the job's code snapshot, the lines its ``data`` upload, and ``python -m
ember.flows.batch`` runs them in the job's own process: user code never runs in the server.
Every change to ``flow.dag.yaml`` is checked by loading the flow (``flows/loader.py``, which
imports no user code) before it is stored; a refused change stores nothing.
"""

from __future__ import annotations

import builtins
import io
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from ember.artifacts.snapshot import collect_files, tar_bytes, tree_hash
from ember.engine import names
from ember.engine.jobs import JobService
from ember.entities import flow_runs as fr
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.errors import (AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError,
                          SpecError)
from ember.flows import _graph, references
from ember.flows.batch import BatchConfig
from ember.engine.workspace_flow_views import FlowView, flow_view
from ember.flows.dag import Flow
from ember.flows.loader import load_flow
from ember.services.flow_files import MAX_FILES, FlowFileStore, check_flow_name, flow_path
from ember.services.uploads import UploadService

DAG = "flow.dag.yaml"
WORKSPACE_FLOW = "ember.workspace_flow"    # a run's property: the workspace flow it ran
MAX_LINES = 1000                           # lines sent with a run (more: a data asset)
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

TEMPLATES: dict[str, dict[str, str]] = {
    "python": {
        DAG: ("# A flow of Python nodes: edit it in the studio or with any editor.\n"
              "inputs:\n  text:\n    type: string\n    default: hello\n"
              "outputs:\n  result:\n    type: string\n    reference: ${shout.output}\n"
              "nodes:\n- name: shout\n  type: python\n  source:\n    type: code\n"
              "    path: shout.py\n  inputs:\n    text: ${inputs.text}\n"),
        "shout.py": ("from promptflow.core import tool\n\n\n@tool\n"
                     "def shout(text: str) -> str:\n    return text.upper() + \"!\"\n"),
    },
}
PYTHON_NODE = ("from promptflow.core import tool\n\n\n@tool\ndef {name}({args}) -> str:\n"
               "    return str({first})\n")
PROMPT_NODE = "{{{{ {first} }}}}\n"


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=2, offset=0)
    return y


def _dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


class WorkspaceFlowService:
    def __init__(self, files: FlowFileStore, jobs: JobService, uploads: UploadService,
                 scratch: Path) -> None:
        self.files = files
        self.jobs = jobs
        self.uploads = uploads
        self.scratch = scratch

    # -- create, read, delete ---------------------------------------------------------------

    def create(self, workspace: str, name: str, files: dict[str, str] | None = None,
               template: str | None = None) -> FlowView:
        """A new flow from ``files`` (path → text, ``flow.dag.yaml`` among them) or a
        ``template``; AlreadyExistsError for a taken name, SpecError for a flow that does not
        load."""
        check_flow_name(name)
        if self.files.exists(workspace, name):
            raise AlreadyExistsError(f"flow {name!r} already exists in workspace {workspace!r}")
        if files is None:
            if (template or "python") not in TEMPLATES:
                raise InvalidInputError(f"no flow template {template!r}; templates: "
                                        f"{', '.join(TEMPLATES)}")
            files = TEMPLATES[template or "python"]
        if DAG not in files:
            raise InvalidInputError(f"a flow needs a {DAG} file")
        if len(files) > MAX_FILES:
            raise InvalidInputError(f"a flow holds at most {MAX_FILES} files")
        clean = {flow_path(p): text.encode() for p, text in files.items()}
        with self._staged(clean) as folder:
            self._load(folder, name)
        for path, data in clean.items():
            self.files.write(workspace, name, path, data)
        return self.get(workspace, name)

    def list(self, workspace: str) -> builtins.list[str]:
        return self.files.list_flows(workspace)

    def get(self, workspace: str, name: str) -> FlowView:
        sizes = self.files.list_files(workspace, name)
        with self._local(workspace, name) as folder:
            dag = (folder / DAG).read_text(encoding="utf-8") if (folder / DAG).is_file() else ""
            try:
                flow = self._load(folder, name)
            except InvalidInputError as exc:
                return FlowView(name, sizes, dag, exc.message, {}, {}, [], [])
        return flow_view(name, sizes, dag, flow)

    def delete(self, workspace: str, name: str) -> None:
        self.files.delete_flow(workspace, name)

    # -- files ------------------------------------------------------------------------------

    def read_file(self, workspace: str, name: str, path: str) -> bytes:
        return self.files.read(workspace, name, flow_path(path))

    def write_file(self, workspace: str, name: str, path: str, content: str) -> FlowView:
        """Create or replace a file; a new ``flow.dag.yaml`` is checked first."""
        path = flow_path(path)
        if path not in self.files.list_files(workspace, name) and \
                len(self.files.list_files(workspace, name)) >= MAX_FILES:
            raise InvalidInputError(f"a flow holds at most {MAX_FILES} files")
        data = content.encode()
        if path == DAG:
            with self._local(workspace, name) as folder:
                (folder / DAG).write_bytes(data)
                self._load(folder, name)
        self.files.write(workspace, name, path, data)
        return self.get(workspace, name)

    def delete_file(self, workspace: str, name: str, path: str) -> FlowView:
        path = flow_path(path)
        if path == DAG:
            raise InvalidInputError(f"{DAG} cannot be deleted: delete the flow instead")
        with self._local(workspace, name) as folder:
            (folder / path).unlink(missing_ok=True)
            self._load(folder, name)
        self.files.delete_file(workspace, name, path)
        return self.get(workspace, name)

    # -- nodes ------------------------------------------------------------------------------

    def add_node(self, workspace: str, name: str, node: str, kind: str = "python",
                 inputs: dict[str, Any] | None = None, source: str | None = None,
                 code: str | None = None) -> FlowView:
        """Append a ``python`` or ``prompt`` node whose code is ``code`` (a stub that returns
        its first input when none is given) in file ``source`` (``<node>.py`` /
        ``<node>.jinja2``), reading ``inputs``."""
        if not _NODE_NAME.match(node or ""):
            raise InvalidInputError(f"node name {node!r} is invalid: a letter or '_' first, "
                                    "then letters, digits and '_' (at most 64)")
        if kind not in ("python", "prompt"):
            raise InvalidInputError(f"node type {kind!r}: the studio adds python and prompt "
                                    "nodes (edit flow.dag.yaml for an llm node)")
        inputs = dict(inputs or {})
        source = flow_path(source or f"{node}.{'py' if kind == 'python' else 'jinja2'}")
        if source == DAG:
            raise InvalidInputError(f"a node's source cannot be {DAG}")
        first = next(iter(inputs), "")
        if code is None:
            code = (PYTHON_NODE.format(name=node, args=", ".join(f"{k}" for k in inputs),
                                       first=first or "''") if kind == "python"
                    else PROMPT_NODE.format(first=first or "'hello'"))
        doc = self._dag(workspace, name)
        nodes = doc.setdefault("nodes", [])
        if any(isinstance(n, dict) and n.get("name") == node for n in nodes) or \
                node in (doc.get("node_variants") or {}):
            raise AlreadyExistsError(f"flow {name!r} already has a node {node!r}")
        body = CommentedMap()
        body["name"] = node
        body["type"] = kind
        body["source"] = CommentedMap([("type", "code"), ("path", source)])
        body["inputs"] = CommentedMap(inputs)
        nodes.append(body)
        return self._save(workspace, name, doc, {source: code.encode()})

    def update_node(self, workspace: str, name: str, node: str,
                    inputs: dict[str, Any] | None = None,
                    activate: dict[str, Any] | None = None,
                    variant: str | None = None) -> FlowView:
        """Replace the node's ``inputs`` (values in the given order; existing keys keep their
        place and comments) and/or its ``activate`` (``{}`` removes it); with ``variant``, the
        inputs of that variant of the node (``node_variants``)."""
        doc = self._dag(workspace, name)
        body = _variant_body(doc, name, node, variant) if variant else \
            _node_body(doc, name, node)
        if inputs is not None:
            current = body.get("inputs")
            if not isinstance(current, CommentedMap):
                current = CommentedMap()
                body["inputs"] = current
            for key in [k for k in current if k not in inputs]:
                del current[key]
            for key, value in inputs.items():
                current[key] = value
        if activate is not None:
            if activate:
                body["activate"] = CommentedMap([("when", activate.get("when")),
                                                 ("is", activate.get("is"))])
            else:
                body.pop("activate", None)
        return self._save(workspace, name, doc, {})

    def remove_node(self, workspace: str, name: str, node: str) -> FlowView:
        """Remove the node and its source file (when no other node uses it). ConflictError
        while another node or a flow output reads it."""
        doc = self._dag(workspace, name)
        body = _node_body(doc, name, node)
        with self._local(workspace, name) as folder:
            flow = self._load(folder, name)
        readers = [n.name for n in flow.nodes if n.name != node
                   and node in _graph.dependencies(n)]
        readers += [f"output {o.name}" for o in flow.outputs.values()
                    if _reads(o.reference, node)]
        if readers:
            raise ConflictError(f"node {node!r} of flow {name!r} is read by "
                                f"{', '.join(readers)}: change them first")
        doc["nodes"].remove(body)
        sources = {(body.get("source") or {}).get("path")}
        variants = doc.get("node_variants") or {}
        if node in variants:   # its variants go with it
            for v in ((variants.pop(node) or {}).get("variants") or {}).values():
                sources.add(((v or {}).get("node") or {}).get("source", {}).get("path"))
            if not variants:
                doc.pop("node_variants", None)
        used = {str((n.get("source") or {}).get("path")) for n in doc["nodes"]
                if isinstance(n, dict)}
        for other in (doc.get("node_variants") or {}).values():
            for v in ((other or {}).get("variants") or {}).values():
                used.add(str(((v or {}).get("node") or {}).get("source", {}).get("path")))
        removed = sorted(str(p) for p in sources if p and str(p) not in used)
        return self._save(workspace, name, doc, {}, removed=removed)

    # -- runs -------------------------------------------------------------------------------

    def run(self, workspace: str, name: str, *, lines: builtins.list[dict[str, Any]] | None = None,
            data: str | None = None, base_run: str | None = None,
            column_mapping: dict[str, Any] | None = None, variant: str | None = None,
            display_name: str | None = None, tags: dict[str, str] | None = None) -> Job:
        """Submit a flow run of the stored flow: over ``lines`` (sent inline; a one-line run is
        the studio's test run), a data asset ``data`` (``azureml:<name>:<version>``), or the
        lines of ``base_run`` (an evaluation run). The job runs the flow in its own process."""
        if lines is not None and data:
            raise InvalidInputError("give lines or data, not both")
        if lines is not None and not (0 < len(lines) <= MAX_LINES):
            raise InvalidInputError(f"a run sends 1 to {MAX_LINES} lines inline (more: "
                                    "register them as a data asset)")
        if lines is not None and not all(isinstance(row, dict) for row in lines):
            raise InvalidInputError("every line is a JSON object of input values")
        if lines is None and not data and not base_run:
            raise InvalidInputError("a run needs lines, data, or a base run to evaluate")
        inputs: dict[str, JobInput] = {}
        args = ""
        with self._local(workspace, name) as folder:
            flow = self._load(folder, name, variant)
            if lines is not None:
                inputs["data"] = JobInput(type="uri_folder",
                                          path=self._upload_lines(workspace, lines))
            elif data:
                if not data.startswith("azureml:"):
                    raise InvalidInputError(f"data {data!r}: name a data asset "
                                            "(azureml:<name>:<version>)")
                inputs["data"] = JobInput(type="uri_file", path=data)
            if "data" in inputs:
                args += " --data ${{inputs.data}}"
            if base_run:
                base = self.jobs.get(workspace, base_run)
                if base.properties.get(fr.FLOW_RUN) != "true":
                    raise InvalidInputError(f"run {base_run!r} is not a flow run")
                inputs["run"] = JobInput(type="uri_folder",
                                         path=f"azureml://jobs/{base_run}/outputs/{fr.OUTPUT}")
                args += " --base-run ${{inputs.run}}"
            code = self._upload_code(workspace, folder)
        cfg = BatchConfig(column_mapping=dict(column_mapping or {}), variant=variant,
                          flow_name=flow.name if flow.name != folder.name else name)
        command = (f"python -m ember.flows.batch --config {cfg.encode()}{args}"
                   " --output ${{outputs.flow_outputs}}")
        properties = {fr.FLOW_RUN: "true", fr.FLOW_PATH: f"flows/{name}", WORKSPACE_FLOW: name,
                      fr.FLOW_DATA: data or ("(inline lines)" if lines is not None else ""),
                      fr.FLOW_BASE_RUN: base_run or "", fr.FLOW_VARIANT: variant or "",
                      fr.FLOW_COLUMN_MAPPING: json.dumps(column_mapping or {})}
        # the job's name from the flow's (a display name may hold spaces, a job name not)
        job = Job(name=names.job_name(re.sub(r"[^A-Za-z0-9_.]", "_", name)), command=command, type="command", display_name=display_name or "",
                  experiment_name=flow.name or name, tags=dict(tags or {}),
                  properties=properties, code=code, inputs=inputs,
                  outputs={fr.OUTPUT: JobOutput(type="uri_folder")})
        return self.jobs.create(workspace, job)

    # -- helpers ----------------------------------------------------------------------------

    def _upload_code(self, workspace: str, folder: Path) -> str:
        files = collect_files(folder)
        digest = tree_hash(files)
        return self.uploads.put_tar(workspace, "code", digest, io.BytesIO(tar_bytes(files)))

    def _upload_lines(self, workspace: str, lines: builtins.list[dict[str, Any]]) -> str:
        with self._temp() as tmp:
            (tmp / "lines.jsonl").write_text(
                "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in lines),
                encoding="utf-8")
            files = collect_files(tmp)
            return self.uploads.put_tar(workspace, "data", tree_hash(files),
                                        io.BytesIO(tar_bytes(files)))

    def _dag(self, workspace: str, name: str) -> CommentedMap:
        text = self.files.read(workspace, name, DAG).decode("utf-8")
        doc = _yaml().load(text)
        if not isinstance(doc, CommentedMap):
            raise InvalidInputError(f"flow {name!r}: {DAG} is not a mapping")
        return doc

    def _save(self, workspace: str, name: str, doc: CommentedMap, new: dict[str, bytes],
              removed: builtins.list[str] | None = None) -> FlowView:
        """Check the flow with ``doc`` and the ``new`` files, then store them."""
        text = _dump(doc).encode()
        with self._local(workspace, name) as folder:
            for path, data in new.items():
                if (folder / path).exists():
                    raise AlreadyExistsError(f"flow {name!r} already has a file {path!r}")
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                (folder / path).write_bytes(data)
            (folder / DAG).write_bytes(text)
            self._load(folder, name)
        for path, data in new.items():
            self.files.write(workspace, name, path, data)
        self.files.write(workspace, name, DAG, text)
        for path in removed or []:
            try:
                self.files.delete_file(workspace, name, flow_path(path))
            except (NotFoundError, InvalidInputError):
                pass   # a source outside the flow (an include): not ours to remove
        return self.get(workspace, name)

    @contextmanager
    def _temp(self) -> Iterator[Path]:
        self.scratch.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.scratch, prefix="flow-"))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def _local(self, workspace: str, name: str) -> Iterator[Path]:
        with self._temp() as tmp:
            folder = tmp / name
            folder.mkdir()
            self.files.copy_to(workspace, name, folder)
            yield folder

    @contextmanager
    def _staged(self, files: dict[str, bytes]) -> Iterator[Path]:
        with self._temp() as tmp:
            folder = tmp / "flow"
            for path, data in files.items():
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                (folder / path).write_bytes(data)
            yield folder

    @staticmethod
    def _load(folder: Path, name: str, variant: str | None = None) -> Flow:
        """The flow in ``folder``; its SpecError names the flow's file, not the scratch
        folder."""
        try:
            return load_flow(folder, variant=variant)
        except SpecError as exc:
            raise SpecError(exc.message.replace(str(folder), f"flow {name}")) from None


def _reads(reference: Any, node: str) -> bool:
    try:
        ref = references.parse(reference)
    except ValueError:
        return False
    return ref is not None and ref.is_node and ref.name == node


def _node_body(doc: CommentedMap, flow: str, node: str) -> CommentedMap:
    for body in doc.get("nodes") or []:
        if isinstance(body, CommentedMap) and body.get("name") == node:
            return body
    raise NotFoundError(f"flow {flow!r} has no node {node!r}")


def _variant_body(doc: CommentedMap, flow: str, node: str, variant: str) -> CommentedMap:
    variants = ((doc.get("node_variants") or {}).get(node) or {}).get("variants") or {}
    body = (variants.get(variant) or {}).get("node")
    if not isinstance(body, CommentedMap):
        raise NotFoundError(f"node {node!r} of flow {flow!r} has no variant {variant!r}")
    return body
