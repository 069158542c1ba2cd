"""Flow runs: a promptflow batch run submitted as an Ember command job.

The job's code is the flow folder (with ``additional_includes`` copied in), its inputs the data
(and a base run's output for an evaluation run), its one output ``flow_outputs`` (see
``ember.flows.batch`` for what lands there), and its command ``python -m ember.flows.batch``. So
``ember job list`` shows the run, ``ember job cancel`` stops it and its log streams like any job's.
"""

from __future__ import annotations

import builtins
import json
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from ember.client.http import Http
from ember.client.jobs import JobOperations
from ember.entities import flow_runs as fr
from ember.entities.flow_runs import Run
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.errors import InvalidInputError, NotFoundError
from ember.flows.batch import BatchConfig
from ember.flows.data import check_columns, parse_mapping, read_rows
from ember.flows.dag import Flow
from ember.flows.loader import load_flow

# Requirements Ember itself provides to a flow (promptflow's packages are served by Ember).
_PROVIDED = ("promptflow", "promptflow-tools", "promptflow-core", "promptflow-devkit",
             "promptflow-tracing", "promptflow_tools")


def _requirements(flow: Flow) -> list[str]:
    name = flow.environment.get("python_requirements_txt")
    if not name:
        return []
    path = flow.folder / str(name)
    if not path.is_file():
        raise InvalidInputError(f"{flow.path}: environment.python_requirements_txt names "
                                f"{name}, which is not in the flow folder")
    wanted = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        base = line.split(";")[0].split("[")[0]
        for sep in "=<>!~ ":
            base = base.split(sep)[0]
        if line and base.lower().replace("_", "-") not in _PROVIDED:
            wanted.append(line)
    return wanted


def with_requirements(flow: Flow, command: str) -> str:
    """``command``, preceded by installing the flow's requirements (uv, into the job's own
    environment: a job on the server's Python has an overlay venv of its own)."""
    wanted = _requirements(flow)
    if not wanted:
        return command
    reqs = " ".join(_shell_quote(r) for r in wanted)
    return f"python -m uv pip install --quiet --python python {reqs} && {command}"


@contextmanager
def staged_flow(flow: Flow) -> Iterator[Path]:
    """The folder to upload: the flow folder itself, or a copy with the includes in it and
    ``additional_includes`` taken out of its ``flow.dag.yaml`` (they are inside now)."""
    if not flow.additional_includes:
        yield flow.folder
        return
    with tempfile.TemporaryDirectory(prefix="ember-flow-") as tmp:
        root = Path(tmp) / flow.folder.name
        shutil.copytree(flow.folder, root, ignore=shutil.ignore_patterns(".runs", "__pycache__"))
        for include in flow.additional_includes:
            src = (flow.folder / include).resolve()
            dst = root / src.name
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)
        from ember.specs.yamlio import load_yaml_text

        yaml_path = root / flow.path.name
        doc = load_yaml_text(yaml_path.read_text(encoding="utf-8"), str(flow.path))
        doc.pop("additional_includes", None)
        from ruamel.yaml import YAML

        with yaml_path.open("w", encoding="utf-8") as fh:
            YAML(typ="rt").dump(doc, fh)
        yield root


def run_from_job(job: Job) -> Run:
    props = job.properties
    mapping = props.get(fr.FLOW_COLUMN_MAPPING)
    return Run(flow=props.get(fr.FLOW_PATH, ""), data=props.get(fr.FLOW_DATA),
               run=props.get(fr.FLOW_BASE_RUN) or None,
               column_mapping=json.loads(mapping) if mapping else {},
               variant=props.get(fr.FLOW_VARIANT) or None, name=job.name,
               display_name=job.display_name or job.name, description=job.description,
               tags=dict(job.tags), status=job.status, created_on=job.creation_time,
               end_time=job.end_time, error=job.error, experiment_name=job.experiment_name,
               properties=dict(props))


class FlowRunOperations:
    def __init__(self, http: Http, jobs: JobOperations) -> None:
        self._http = http
        self._jobs = jobs

    def create_or_update(self, run: Run, *, show_progress: bool | None = None) -> Run:
        """Submit the run (it starts at once, queued like any job); returns it Queued."""
        if not run.flow:
            raise InvalidInputError("a flow run needs a flow (a folder with flow.dag.yaml)")
        flow = load_flow(Path(run.flow), variant=run.variant)
        if not run.data and not run.run:
            raise InvalidInputError("a flow run needs --data, or --run for an evaluation run")
        mapping = parse_mapping(run.column_mapping, has_run=run.run is not None)
        inputs: dict[str, JobInput] = {}
        args = ""
        if run.data:
            if run.data.startswith("azureml:"):
                inputs["data"] = JobInput(type="uri_file", path=run.data)
            else:
                local = Path(run.data)
                if not local.exists():
                    raise InvalidInputError(f"--data {run.data}: no such file or folder")
                # Read here too: bad JSON on line 7 is said now, not in the job's log.
                check_columns(flow, read_rows(local), mapping, str(local))
                kind = "uri_folder" if local.is_dir() else "uri_file"
                inputs["data"] = JobInput(type=kind, path=str(local.resolve()))
            args += " --data ${{inputs.data}}"
        if run.run:
            base = self._jobs.get(run.run)
            if base.properties.get(fr.FLOW_RUN) != "true":
                raise InvalidInputError(f"--run {run.run}: that job is not a flow run")
            inputs["run"] = JobInput(type="uri_folder",
                                     path=f"azureml://jobs/{run.run}/outputs/{fr.OUTPUT}")
            args += " --base-run ${{inputs.run}}"
        cfg = BatchConfig(column_mapping=dict(run.column_mapping), variant=run.variant,
                          connections=dict(run.connections),
                          environment_variables=dict(run.environment_variables),
                          flow_name=flow.name)
        command = (f"python -m ember.flows.batch --config {cfg.encode()}{args}"
                   " --output ${{outputs.flow_outputs}}")
        command = with_requirements(flow, command)
        properties = {fr.FLOW_RUN: "true", fr.FLOW_PATH: str(flow.folder),
                      fr.FLOW_DATA: run.data or "", fr.FLOW_BASE_RUN: run.run or "",
                      fr.FLOW_VARIANT: run.variant or "",
                      fr.FLOW_COLUMN_MAPPING: json.dumps(run.column_mapping)}
        with staged_flow(flow) as code:
            job = Job(name=run.name or "", command=command, type="command",
                      display_name=run.display_name or run.name or "",
                      experiment_name=flow.name or flow.folder.name,
                      description=run.description, tags=dict(run.tags),
                      properties=properties, code=str(code),
                      environment_variables=dict(run.environment_variables),
                      inputs=inputs, outputs={fr.OUTPUT: JobOutput(type="uri_folder")})
            created = self._jobs.create_or_update(job, show_progress=show_progress)
        return run_from_job(created)

    def get(self, name: str) -> Run:
        job = self._jobs.get(name)
        if job.properties.get(fr.FLOW_RUN) != "true":
            raise NotFoundError(f"run {name!r} is a job but not a flow run")
        return run_from_job(job)

    def list(self, max_results: int = 50, *, include_archived: bool = False,
             archived_only: bool = False) -> builtins.list[Run]:
        """Newest first; archived runs only when asked for (pf's ``--include-archived``,
        ``--archived-only``)."""
        jobs = self._jobs.list(max_results=10_000, include_archived=include_archived,
                               archived_only=archived_only)
        runs = [run_from_job(j) for j in jobs if j.properties.get(fr.FLOW_RUN) == "true"]
        return runs[:max_results]

    # update, archive, restore, delete: the job's own operations, on a flow run only.

    def update(self, name: str, display_name: str | None = None,
               description: str | None = None, tags: dict[str, str] | None = None) -> Run:
        """Change the run's display name, description or tags (``tags`` replaces them)."""
        self.get(name)
        return run_from_job(self._jobs.update(name, display_name=display_name,
                                              description=description, tags=tags))

    def archive(self, name: str) -> Run:
        """Hide the run from :meth:`list`; ``get`` still finds it."""
        self.get(name)
        return run_from_job(self._jobs.archive(name))

    def restore(self, name: str) -> Run:
        self.get(name)
        return run_from_job(self._jobs.restore(name))

    def delete(self, name: str) -> None:
        """Delete an ended run (ConflictError while it runs): its job goes, its MLflow run is
        marked deleted, its files stay."""
        self.get(name)
        self._jobs.delete(name)

    def stream(self, name: str, out: IO[str] | None = None) -> Run:
        self.get(name)
        return run_from_job(self._jobs.stream(name, out or sys.stdout))

    def _file(self, name: str, path: str) -> bytes | None:
        quoted = urllib.parse.quote(path)
        try:
            return self._http.request("GET", self._http.ws(f"/jobs/{name}/files/{quoted}"),
                                      params={"output": fr.OUTPUT}).content
        except NotFoundError:
            return None

    def details(self, name: str) -> builtins.list[dict[str, Any]]:
        """Every line of the run: ``line_number``, ``status``, ``inputs``, ``outputs``,
        ``error``. Empty while the run has not finished."""
        self.get(name)
        raw = self._file(name, "details.jsonl")
        if raw is None:
            return []
        return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]

    def metrics(self, name: str) -> dict[str, Any]:
        self.get(name)
        raw = self._file(name, "metrics.json")
        return json.loads(raw) if raw else {}

    def summary(self, name: str) -> dict[str, Any]:
        raw = self._file(name, "summary.json")
        return json.loads(raw) if raw else {}


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def details_rows(details: builtins.list[dict[str, Any]], *, max_results: int | None = 100
                 ) -> builtins.list[dict[str, Any]]:
    """The table ``show-details`` / ``get_details`` show: ``inputs.<k>``, ``inputs.line_number``,
    ``outputs.<k>`` per line; a failed line's outputs read ``(Failed)``."""
    rows = []
    keys: builtins.list[str] = []
    for d in details:
        for k in d.get("outputs") or {}:
            if k not in keys:
                keys.append(k)
    for d in details[:max_results] if max_results else details:
        row = {f"inputs.{k}": v for k, v in (d.get("inputs") or {}).items()}
        row["inputs.line_number"] = d["line_number"]
        for k in keys:
            row[f"outputs.{k}"] = ((d.get("outputs") or {}).get(k)
                                   if d.get("status") == "Completed" else "(Failed)")
        rows.append(row)
    return rows


def with_defaults(run: Run, **changes: Any) -> Run:
    return replace(run, **{k: v for k, v in changes.items() if v is not None})
