"""The job service: submit, read, cancel, and the reports a runner sends back.

Status moves are compare-and-set in the store (``JobStatus.NEXT``), so a late report from a runner
can never resurrect a cancelled job, and two cancels cannot both win.
"""

from __future__ import annotations

import builtins

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ember.artifacts.store import ArtifactStore, safe_relpath
from ember.artifacts.uris import JobOutputUri, is_azureml_uri, parse_azureml_uri
from ember.engine import names
from ember.entities.datastores import DEFAULT_DATASTORE
from ember.entities.jobs import Job, JobQuery, JobStatus
from ember.entities import limits
from ember.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
)
from ember.services.computes import ComputeService
from ember.services.data import DataService
from ember.services.datastores import DatastoreService
from ember.services.environments import EnvironmentService, validate_environment
from ember.entities.names import check_name
from ember.services.uploads import UploadService
from ember.specs._job_settings import check_run_settings
from ember.specs.expressions import validate_command
from ember.specs.references import parse_asset_ref
from ember.store.jobs import JobStore

if TYPE_CHECKING:
    from ember.tracking.service import TrackingService

RUN_STATUS = {
    JobStatus.QUEUED: "SCHEDULED", JobStatus.PREPARING: "SCHEDULED",
    JobStatus.STARTING: "SCHEDULED", JobStatus.RUNNING: "RUNNING",
    JobStatus.FINALIZING: "RUNNING", JobStatus.CANCEL_REQUESTED: "RUNNING",
    JobStatus.COMPLETED: "FINISHED", JobStatus.FAILED: "FAILED", JobStatus.CANCELED: "KILLED",
}
LOG_PATH = "user_logs/std_log.txt"


@dataclass(frozen=True)
class JobEvent:
    """A status change the service recorded. ``job`` is the job as written when the change
    is its creation (:meth:`JobService.record`), None for later moves."""

    workspace: str
    name: str
    status: str
    job: Job | None = None


def default_output_uri(job: str, output: str) -> str:
    return f"azureml://datastores/{DEFAULT_DATASTORE}/paths/azureml/{job}/{output}/"


MAX_LOG_WAITERS = 8   # log readers waiting at once (read_log's wait)


class JobService:
    def __init__(self, jobs: JobStore, environments: EnvironmentService, data: DataService,
                 datastores: DatastoreService, uploads: UploadService,
                 tracking: TrackingService, artifacts: ArtifactStore,
                 computes: ComputeService) -> None:
        self._store = jobs   # private: every status change goes through move() and its events
        self.environments = environments
        self.data = data
        self.datastores = datastores
        self.uploads = uploads
        self.tracking = tracking
        self.artifacts = artifacts
        self.computes = computes
        # Called with a JobEvent after every recorded status change (the scheduler and the
        # orchestrator subscribe; the service knows neither).
        self._listeners: list[Callable[[JobEvent], None]] = []
        self._log_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # Bumped on every log append and status change: log readers waiting for news
        # (read_log's ``wait``) wake on it. Only this process's changes wake them; another
        # server process's are seen when the wait ends.
        self._changed = threading.Condition()
        self._changes = 0
        # Each waiting reader holds a thread of the server's pool: a few may wait, the rest
        # are answered at once (their clients poll).
        self._waiters = threading.BoundedSemaphore(MAX_LOG_WAITERS)

    def subscribe(self, listener: Callable[[JobEvent], None]) -> None:
        """Call ``listener`` after every status change this service records, synchronously,
        in the thread that made it (so a listener may act before the caller goes on)."""
        self._listeners.append(listener)

    def _publish(self, event: JobEvent) -> None:
        self._bump()
        for listener in self._listeners:
            listener(event)

    def _bump(self) -> None:
        with self._changed:
            self._changes += 1
            self._changed.notify_all()

    # --- submit -----------------------------------------------------------------------------

    def create(self, workspace: str, job: Job) -> Job:
        """Validate every reference, then record the job (Queued) and its MLflow run."""
        self.check(workspace, job)
        self.resolve_outputs(job)
        return self.record(workspace, job)

    def check(self, workspace: str, job: Job) -> None:
        """Everything :meth:`create` checks and resolves before writing (outputs aside)."""
        if job.type != "command":
            raise UnsupportedError(f"job type {job.type!r} is not supported here; use "
                                   "'command' (pipelines and sweeps have their own services)")
        if not job.command or not job.command.strip():
            raise InvalidInputError("the job has no command")
        job.display_name = job.display_name or names.display_name()
        job.name = job.name or names.job_name(job.display_name)
        check_name("job", job.name)
        # The one place a job's compute is checked: command jobs, pipeline steps, sweep trials
        # and fine-tuning steps all pass here.
        self.computes.check_job_compute(workspace, job.compute, f"job {job.name!r}")
        self.check_unused_name(workspace, job.name)
        job.experiment_name = job.experiment_name or "Default"
        validate_command(job.command, job.inputs, job.outputs, "command", None)
        self.uploads.check_code(workspace, job.code)
        self.resolve_environment(workspace, job)
        self.resolve_inputs(workspace, job)
        check_run_settings(f"job {job.name!r}", job.distribution, job.resources)
        if job.timeout is not None and job.timeout <= 0:
            raise InvalidInputError("limits.timeout must be a positive number of seconds")

    def check_unused_name(self, workspace: str, name: str) -> None:
        try:
            self._store.get(workspace, name, with_history=False)
        except NotFoundError:
            if self._store.name_taken(name):
                raise ConflictError(
                    f"the job name {name!r} is taken by a job in another workspace: a job's "
                    "name is its MLflow run id, and run ids are unique across the server (as "
                    "in MLflow), not per workspace; choose another name") from None
            return
        raise ConflictError(f"a job named {name!r} already exists in workspace {workspace!r}")

    def record(self, workspace: str, job: Job, *, status: str = JobStatus.QUEUED,
               reason: str = "", error: str | None = None) -> Job:
        """Write a checked job and its MLflow run; wake the scheduler (and the listeners)."""
        job.status = status
        job.error = error
        job.creation_time = time.time()
        if job.submitter is None and job.parent_job_name:
            # a pipeline's step, a sweep's trial: submitted by whoever submitted the parent
            job.submitter = self.submitter_of(workspace, job.parent_job_name)
        if status in JobStatus.TERMINAL:
            job.start_time = job.end_time = job.creation_time
        if not job.experiment_id:   # steps and trials arrive with their parent's
            job.experiment_id = self.tracking.ensure_experiment(workspace, job.experiment_name)
        tags = {"mlflow.runName": job.display_name, "mlflow.source.type": "JOB",
                "ember.job_type": job.type, **job.tags}
        if job.parent_job_name:
            tags["mlflow.parentRunId"] = job.parent_job_name
        end = int(job.creation_time * 1000) if status in JobStatus.TERMINAL else None
        try:
            self.tracking.create_job_run(
                workspace, run_id=job.name, experiment_id=job.experiment_id,
                run_name=job.display_name, start_time_ms=int(job.creation_time * 1000),
                tags=tags, status=RUN_STATUS[status], end_time_ms=end)
        except AlreadyExistsError:
            # No job has the name (checked before), so a run kept it: most often the run of a
            # deleted job, which MLflow keeps (lifecycle_stage deleted) as mlflow.delete_run does.
            raise AlreadyExistsError(
                f"the job name {job.name!r} is the id of an MLflow run that is kept (a deleted "
                "job's run stays, marked deleted, as MLflow keeps deleted runs); a job's name "
                "is its run id, so choose another name") from None
        created = self._store.create(workspace, job)
        if reason:
            self.append_server_log(workspace, job.name, f"[ember] {reason}\n".encode())
        self._publish(JobEvent(workspace, job.name, status, created))
        return created

    def create_reused(self, workspace: str, job: Job, source: Job) -> Job:
        """Record a checked step as Completed at once, pointing at ``source``'s outputs."""
        job.outputs = {k: replace(o, path=source.outputs[k].path) if k in source.outputs
                       else o for k, o in job.outputs.items()}
        self.resolve_outputs(job)
        job.reused_from = source.name
        job.properties = {**job.properties, "azureml.isreused": "true",
                          "azureml.reusedrunid": source.name}
        return self.record(workspace, job, status=JobStatus.COMPLETED,
                           reason=f"reused the outputs of job {source.name} (same component, "
                                  "code, environment and inputs); nothing was run")

    def resolve_environment(self, workspace: str, job: Job) -> None:
        env = job.environment
        if env is None:
            return
        if isinstance(env, str):
            job.environment, env_obj = self.environments.pinned(workspace, env)
        else:
            validate_environment(env, "the job's inline environment")
            env_obj = env
        if env_obj.build and job.compute in ("local", "azureml:local", ""):
            raise UnsupportedError(
                f"environment {env_obj.name or '(inline)'} is built from a Dockerfile ('build'); "
                "local compute has no container runtime. Use a conda_file or an image.")
        ray = self.computes.resolve(workspace, job.compute) if env_obj.build else None
        if ray is not None:
            raise UnsupportedError(
                f"environment {env_obj.name or '(inline)'} is built from a Dockerfile ('build'); "
                f"the Ray compute {ray.name!r} runs jobs in a pip environment, not a "
                "container. Use a conda_file or pip requirements.")

    def resolve_inputs(self, workspace: str, job: Job) -> None:
        for name, inp in job.inputs.items():
            if inp.is_literal:
                if inp.value is None and not inp.optional:
                    raise InvalidInputError(f"input {name!r} has no value")
                continue
            if not inp.path:
                if inp.optional:
                    continue
                raise InvalidInputError(f"input {name!r} ({inp.type}) has no path")
            inp.mode = inp.mode or "ro_mount"
            if inp.path.startswith("azureml:") and not inp.path.startswith("azureml://"):
                asset_name, version = parse_asset_ref(inp.path)
                asset = self.data.get(workspace, asset_name, version)
                inp.path = asset.path
            if is_azureml_uri(inp.path):
                store, rel = self.datastores.locate_uri(workspace, inp.path, self.output_uri)
                if not store.exists(rel):
                    raise InvalidInputError(f"input {name!r}: {inp.path} does not exist")
            elif inp.mode != "direct":
                # A pipeline's or sweep's inputs are probed once, at its submit; its steps and
                # trials (created by the orchestrator's thread) are not probed again.
                self._check_remote_input(name, inp.path, probe=not job.parent_job_name)

    # Azure storage URIs: they need Azure credentials and network access Ember does not have.
    _AZURE_STORAGE = ("wasbs", "wasb", "abfss", "abfs", "adl")

    @classmethod
    def _check_remote_input(cls, name: str, uri: str, probe: bool = True) -> None:
        """Refuse, at submit, a remote input the job could not read: an Azure storage URI, or
        an http(s) URL that does not answer (a short HEAD, then GET when HEAD is refused).
        ``mode: direct`` inputs are passed as text, so they are not checked."""
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        if scheme in cls._AZURE_STORAGE:
            raise InvalidInputError(
                f"input {name!r}: {uri} is Azure storage ({scheme}://), which Ember cannot "
                "reach (it needs Azure credentials and network); copy the data to a local "
                "folder and give that path, or register a datastore over it and use "
                "azureml://datastores/<name>/paths/<path>")
        if scheme not in ("http", "https") or not probe:
            return
        import httpx

        try:
            with httpx.Client(timeout=5.0, follow_redirects=True) as http:
                status = http.head(uri).status_code
                if status in (403, 405, 501):   # some servers answer only GET
                    with http.stream("GET", uri) as resp:
                        status = resp.status_code
        except httpx.HTTPError as exc:
            raise InvalidInputError(
                f"input {name!r}: {uri} cannot be reached ({type(exc).__name__}: "
                f"{str(exc) or 'no answer'}); the job would fail reading it") from None
        if status >= 400:
            raise InvalidInputError(f"input {name!r}: {uri} answered HTTP {status}; the job "
                                    "would fail reading it")

    def resolve_outputs(self, job: Job) -> None:
        for name, out in job.outputs.items():
            if out.path:
                out.path = (out.path.replace("${{name}}", job.name)
                            .replace("${{output_name}}", name)
                            .replace("${{default_datastore}}", DEFAULT_DATASTORE))
                if is_azureml_uri(out.path):
                    parse_azureml_uri(out.path)
            else:
                out.path = default_output_uri(job.name, name)
                if out.type == "uri_file":   # a file the command writes, not a folder
                    out.path = out.path.rstrip("/")

    def output_uri(self, workspace: str, job_name: str, output: str) -> str:
        """The datastore URI of a job's named output (``azureml://jobs/...`` resolution)."""
        job = self._store.get(workspace, job_name)
        if output not in job.outputs:
            known = ", ".join(sorted(job.outputs)) or "none"
            raise NotFoundError(f"job {job_name!r} has no output {output!r} (outputs: {known})")
        path = job.outputs[output].path or default_output_uri(job_name, output)
        if isinstance(parse_azureml_uri(path), JobOutputUri):
            raise InvalidInputError(f"output {output!r} of {job_name!r} points at another job")
        return path

    # --- read -------------------------------------------------------------------------------

    def get(self, workspace: str, name: str, *, with_history: bool = True) -> Job:
        return self._store.get(workspace, name, with_history=with_history)

    def list(self, workspace: str, *, parent_job_name: str | None = None,
             archived: bool | None = None, max_results: int = 100,
             with_history: bool = True) -> builtins.list[Job]:
        """Newest first. ``archived``: None for every job (what the engine wants), False for
        the jobs not archived (``GET /jobs``'s default), True for the archived ones only."""
        return self._store.list(workspace, parent_job_name=parent_job_name, archived=archived,
                                max_results=max_results, with_history=with_history)

    def search(self, workspace: str, query: JobQuery, *, count: bool = False,
               with_history: bool = True) -> tuple[builtins.list[Job], int | None]:
        """A page of the jobs ``query`` matches and (with ``count``) how many match in all."""
        return self._store.search(workspace, query, count=count, with_history=with_history)

    def submitter_of(self, workspace: str, name: str) -> str | None:
        """Who submitted job ``name`` (None when it is gone or was never recorded)."""
        try:
            return self._store.get(workspace, name, with_history=False).submitter
        except NotFoundError:
            return None

    def get_status(self, workspace: str, name: str) -> str:
        return self._store.get_status(workspace, name)

    def child_statuses(self, workspace: str, parent_job_name: str) -> dict[str, str]:
        return self._store.child_statuses(workspace, parent_job_name)

    def list_in_status(self, statuses: Iterable[str], *, with_history: bool = True
                       ) -> builtins.list[tuple[str, Job]]:
        """``(workspace, job)`` for every job in ``statuses``, in every workspace."""
        return self._store.list_in_status(statuses, with_history=with_history)

    def find_reusable(self, workspace: str, reuse_key: str) -> Job | None:
        return self._store.find_reusable(workspace, reuse_key)

    def update(self, workspace: str, job: Job) -> None:
        """Write a job's outputs, properties and definition (never its status: see move; nor
        what the user edits: see update_metadata)."""
        self._store.update(workspace, job)

    def set_runner(self, workspace: str, name: str, runner: dict[str, Any]) -> None:
        self._store.set_runner(workspace, name, runner)

    # --- status -----------------------------------------------------------------------------

    def move(self, workspace: str, name: str, new_status: str, *, reason: str = "",
             error: str | None = None, allowed_from: frozenset[str] | None = None) -> bool:
        if allowed_from is None:
            allowed_from = frozenset(s for s, nxt in JobStatus.NEXT.items() if new_status in nxt)
        ok = self._store.transition(workspace, name, new_status, allowed_from=allowed_from,
                                  time=time.time(), reason=reason, error=error)
        if ok:
            end = int(time.time() * 1000) if new_status in JobStatus.TERMINAL else None
            # Queued → Preparing → Starting are all SCHEDULED runs: no write needed.
            if any(RUN_STATUS[old] != RUN_STATUS[new_status] for old in allowed_from):
                self.tracking.set_run_status(name, RUN_STATUS[new_status], end)
            self._publish(JobEvent(workspace, name, new_status))
        return ok

    def cancel(self, workspace: str, name: str, reason: str = "canceled by the user") -> Job:
        job = self._store.get(workspace, name)
        if job.status in JobStatus.TERMINAL:
            raise ConflictError(f"job {name!r} is already {job.status}; there is nothing to cancel")
        if job.type != "command":
            # The orchestrator, on this event, cancels the children and ends the composite.
            self.move(workspace, name, JobStatus.CANCEL_REQUESTED, reason=reason)
            return self._store.get(workspace, name)
        if job.status == JobStatus.QUEUED and self.move(
                workspace, name, JobStatus.CANCELED, reason=reason,
                allowed_from=frozenset({JobStatus.QUEUED})):
            return self._store.get(workspace, name)
        # The scheduler, on this event, stops the job's process tree before we go on.
        self.move(workspace, name, JobStatus.CANCEL_REQUESTED, reason=reason)
        self.move(workspace, name, JobStatus.CANCELED, reason=reason,
                  allowed_from=frozenset({JobStatus.CANCEL_REQUESTED}))
        return self._store.get(workspace, name)

    def runner_report(self, workspace: str, name: str, status: str, *,
                      error: str | None = None, exit_code: int | None = None) -> Job:
        """A status report from the job's runner; 409 when the job no longer accepts it."""
        expected = {JobStatus.RUNNING: {JobStatus.STARTING},
                    JobStatus.FINALIZING: {JobStatus.RUNNING, JobStatus.STARTING},
                    JobStatus.COMPLETED: {JobStatus.FINALIZING, JobStatus.RUNNING},
                    # from Starting: a remote runner whose inputs could not be downloaded
                    JobStatus.FAILED: {JobStatus.FINALIZING, JobStatus.RUNNING,
                                       JobStatus.STARTING}}
        if status not in expected:
            raise InvalidInputError(f"a runner cannot report status {status!r}")
        reason = f"exit code {exit_code}" if exit_code is not None else ""
        if not self.move(workspace, name, status, reason=reason, error=error,
                         allowed_from=frozenset(expected[status])):
            current = self._store.get(workspace, name).status
            raise ConflictError(f"job {name!r} is {current}; report {status!r} refused")
        return self._store.get(workspace, name, with_history=False)

    # --- what the user edits: display name, description, tags; archive; delete ----------------

    # Tags the job service writes on every job's run itself; a job tag of the same key that
    # is removed leaves them alone.
    _RUN_SYSTEM_TAGS = frozenset({"mlflow.runName", "mlflow.source.type", "ember.job_type",
                                  "mlflow.parentRunId"})

    def update_metadata(self, workspace: str, name: str, *, display_name: str | None = None,
                        description: str | None = None,
                        tags: dict[str, str] | None = None) -> Job:
        """Change a job's display name, description or tags (the ones given; ``tags``
        replaces the mapping), whatever its status: Azure ML lets these change on a running
        job too. Its MLflow run follows, as at submit: the display name is the run's name
        (``mlflow.runName``) and the job's tags are run tags (a tag removed is deleted from
        the run). Everything else of a job, ``properties`` included, is what ran and stays.
        Raises NotFoundError, InvalidInputError."""
        job = self._store.get(workspace, name, with_history=False)
        if display_name is not None:
            if not display_name.strip():
                raise InvalidInputError("display_name cannot be empty")
            limits.check_length("display_name", display_name, limits.MAX_DISPLAY_NAME_LENGTH)
        limits.check_length("description", description, limits.MAX_DESCRIPTION_LENGTH)
        if tags is not None:
            limits.check_mapping("tags", tags, limits.MAX_TAGS)
            if any(not isinstance(v, str) for v in tags.values()):
                raise InvalidInputError("tags: every value must be a string")
        # The run first: MLflow's rules on tag keys refuse before anything is written.
        if display_name is not None and display_name != job.display_name:
            self.tracking.update_run(workspace, name, run_name=display_name)
        if tags is not None:
            changed = [(k, v) for k, v in tags.items() if job.tags.get(k) != v]
            if changed:
                self.tracking.log_batch(workspace, name, tags=changed)
            for key in job.tags.keys() - tags.keys() - self._RUN_SYSTEM_TAGS:
                try:
                    self.tracking.delete_tag(workspace, name, key)
                except NotFoundError:
                    pass   # removed from the run through MLflow already
        self._store.update_metadata(workspace, name, display_name=display_name,
                                    description=description, tags=tags)
        return self._store.get(workspace, name)

    def archive(self, workspace: str, name: str) -> Job:
        """Hide the job from ``GET /jobs`` (still readable by name, still running if it runs),
        with its children: a pipeline's steps and a sweep's trials go with it. A child alone
        is refused, as azure-ai-ml refuses a pipeline child job. Raises NotFoundError,
        ConflictError."""
        return self._set_archived(workspace, name, True)

    def restore(self, workspace: str, name: str) -> Job:
        """Undo :meth:`archive` (the job and its children)."""
        return self._set_archived(workspace, name, False)

    def _set_archived(self, workspace: str, name: str, archived: bool) -> Job:
        job = self._store.get(workspace, name, with_history=False)
        if job.parent_job_name:
            verb = "archive" if archived else "restore"
            raise ConflictError(
                f"job {name!r} is a child of job {job.parent_job_name!r}; a child job cannot "
                f"be {verb}d alone: {verb} {self._root(workspace, job)!r}, which takes its "
                "children with it")
        self._store.set_archived(workspace, [name, *self._descendants(workspace, name)],
                                 archived)
        return self._store.get(workspace, name)

    def delete(self, workspace: str, name: str) -> builtins.list[str]:
        """Delete an ended job and, for a pipeline or sweep, every job under it; returns the
        names deleted (the job first).

        Refused (ConflictError) while the job or a child has not ended (cancel it first), and
        for a child job alone (a pipeline's steps are its record: delete the pipeline). The
        job rows and status histories go; each job's MLflow run is marked deleted
        (lifecycle_stage ``deleted``, as ``mlflow.delete_run`` does), so its metrics stay
        readable through MLflow's deleted-runs view and its name stays taken. The files stay:
        the run's artifacts (logs, ./outputs) and the named outputs in the datastore, which
        other jobs may be reading (a reused step points at them).
        """
        job = self._store.get(workspace, name, with_history=False)
        if job.parent_job_name:
            raise ConflictError(
                f"job {name!r} is a child of job {job.parent_job_name!r}; a child job cannot "
                f"be deleted alone: delete {self._root(workspace, job)!r}, which deletes its "
                "children with it")
        if job.status not in JobStatus.TERMINAL:
            raise ConflictError(f"job {name!r} is {job.status}; cancel it first, then delete "
                                "it (only an ended job can be deleted)")
        names = [name, *self._descendants(workspace, name)]
        if not self._store.delete(workspace, names, only_in=JobStatus.TERMINAL):
            for other in names:
                try:
                    status = self._store.get_status(workspace, other)
                except NotFoundError:
                    continue
                if status not in JobStatus.TERMINAL:
                    raise ConflictError(f"job {other!r} is {status}; cancel it first, then "
                                        f"delete {name!r} (only ended jobs can be deleted)")
            raise ConflictError(f"job {name!r} changed while it was being deleted; try again")
        for gone in names:
            try:
                self.tracking.delete_run(workspace, gone)
            except NotFoundError:
                pass   # a run deleted through MLflow first
            with self._guard:
                self._log_locks.pop(gone, None)
        return names

    def _descendants(self, workspace: str, name: str) -> builtins.list[str]:
        """Every job under ``name`` (children, their children...), parents first."""
        found: builtins.list[str] = []
        parents = [name]
        while parents:
            children = [c for p in parents for c in self._store.child_statuses(workspace, p)]
            found += children
            parents = children
        return found

    def _root(self, workspace: str, job: Job) -> str:
        """The top-level job above ``job`` (a step of a nested pipeline has two parents)."""
        while job.parent_job_name:
            try:
                job = self._store.get(workspace, job.parent_job_name, with_history=False)
            except NotFoundError:
                break
        return job.parent_job_name or job.name

    # --- logs and files ---------------------------------------------------------------------

    def _run_path(self, workspace: str, name: str, path: str) -> str:
        return f"{self.tracking.run_artifact_prefix(workspace, name)}/{safe_relpath(path)}"

    def _log_lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._log_locks.setdefault(name, threading.Lock())

    def append_server_log(self, workspace: str, name: str, data: bytes) -> int:
        """Append the server's own notes (preparation, environment build); returns the size."""
        path = self._run_path(workspace, name, LOG_PATH)
        with self._log_lock(name):
            if not data:
                return self.artifacts.size(path)
            size = self.artifacts.append_bytes(path, data)
        self._bump()
        return size

    def append_log(self, workspace: str, name: str, offset: int, data: bytes) -> int:
        """Append a runner's log chunk at ``offset``; resent bytes are not written twice.
        Refused (409) once the job has ended: its log is final (the runner ships every chunk
        before it reports the end, and stops shipping on a 409)."""
        job = self.get(workspace, name, with_history=False)
        if job.status in JobStatus.TERMINAL:
            raise ConflictError(f"job {name!r} is {job.status}; its log is final")
        path = self._run_path(workspace, name, LOG_PATH)
        with self._log_lock(name):
            size = self.artifacts.size(path)
            skip = max(0, size - offset)
            if skip >= len(data):
                return size
            size = self.artifacts.append_bytes(path, data[skip:])
        self._bump()
        return size

    def read_log(self, workspace: str, name: str, offset: int, max_bytes: int = 1 << 20,
                 wait: float = 0.0) -> tuple[bytes, int, Job]:
        """The log's bytes from ``offset``, its size and the job. With ``wait`` > 0 and
        nothing new yet on a job still going, first wait up to that many seconds for its
        log to grow or its status to change (a follower's long poll: it hears of the end at
        once instead of at its next poll)."""
        if wait > 0 and self._waiters.acquire(blocking=False):
            try:
                return self._read_log(workspace, name, offset, max_bytes, wait)
            finally:
                self._waiters.release()
        return self._read_log(workspace, name, offset, max_bytes, 0.0)

    def _read_log(self, workspace: str, name: str, offset: int, max_bytes: int,
                  wait: float) -> tuple[bytes, int, Job]:
        deadline = time.monotonic() + wait
        while True:
            with self._changed:
                seen = self._changes
            job = self._store.get(workspace, name)
            path = self._run_path(workspace, name, LOG_PATH)
            size = self.artifacts.size(path)
            data = self.artifacts.read_range(path, offset, max_bytes) if offset < size else b""
            left = deadline - time.monotonic()
            if data or job.status in JobStatus.TERMINAL or left <= 0:
                return data, size, job
            with self._changed:
                if self._changes == seen and not self._changed.wait(left):
                    return data, size, job

    def put_artifact(self, workspace: str, name: str, path: str, data: bytes) -> None:
        self._store.get(workspace, name)
        self.artifacts.write_bytes(self._run_path(workspace, name, path), data)

    def file_root(self, workspace: str, name: str, output: str) -> tuple[ArtifactStore, str]:
        """Where a job's files live: ``default`` = run artifacts, else a named output."""
        job = self._store.get(workspace, name)
        if output == "default":
            return self.artifacts, self.tracking.run_artifact_prefix(workspace, name)
        uri = self.output_uri(workspace, job.name, output)
        return self.datastores.locate_uri(workspace, uri)

    def list_files(self, workspace: str, name: str, output: str) -> builtins.list[dict[str, Any]]:
        store, root = self.file_root(workspace, name, output)
        files = []
        for rel in store.walk_files(root):
            files.append({"path": rel, "size": store.size(f"{root}/{rel}")})
        return files

    def open_file(self, workspace: str, name: str, output: str, path: str) -> Any:
        store, root = self.file_root(workspace, name, output)
        if store.exists(root) and not store.isdir(root):  # a uri_file output
            if safe_relpath(path) != root.rsplit("/", 1)[-1]:
                raise NotFoundError(f"output {output!r} of {name!r} has no file {path!r}")
            return store.open_read(root)
        return store.open_read(f"{root}/{safe_relpath(path, allow_empty=False)}")
