from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ember.entities.codec import from_plain
from ember.entities.environments import Environment


class JobStatus:
    """Azure ML job statuses used by Ember, and their groupings."""

    QUEUED = "Queued"
    PREPARING = "Preparing"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
    ACTIVE = frozenset({PREPARING, STARTING, RUNNING, FINALIZING, CANCEL_REQUESTED})
    ALL = (QUEUED, PREPARING, STARTING, RUNNING, FINALIZING, CANCEL_REQUESTED,
           COMPLETED, FAILED, CANCELED)

    # Allowed forward moves; anything else is refused by the job service.
    NEXT: dict[str, frozenset[str]] = {
        QUEUED: frozenset({PREPARING, CANCEL_REQUESTED, CANCELED, FAILED}),
        PREPARING: frozenset({STARTING, CANCEL_REQUESTED, CANCELED, FAILED}),
        STARTING: frozenset({RUNNING, FINALIZING, CANCEL_REQUESTED, CANCELED, FAILED}),
        RUNNING: frozenset({FINALIZING, CANCEL_REQUESTED, CANCELED, FAILED, COMPLETED}),
        FINALIZING: frozenset({COMPLETED, FAILED, CANCEL_REQUESTED, CANCELED}),
        CANCEL_REQUESTED: frozenset({CANCELED, FAILED}),
    }


LITERAL_TYPES = ("string", "number", "integer", "boolean")
DATA_INPUT_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model",
                    "triton_model")
INPUT_MODES = ("ro_mount", "download", "direct", "eval_mount", "eval_download")
OUTPUT_TYPES = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model")
OUTPUT_MODES = ("rw_mount", "upload", "direct")
# The output every command job has in Azure ML: what the command wrote under ./outputs. A
# pipeline step may bind it (${{parent.jobs.<step>.outputs.artifacts}}) without declaring it.
DEFAULT_ARTIFACTS_OUTPUT = "artifacts"


def literal_type(value: Any) -> str | None:
    """The Azure ML literal type of a Python value (bool before int), or None."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


@dataclass
class JobInput:
    """A literal (``value``) or a data input (``type`` + ``path`` + ``mode``)."""

    type: str = "string"
    value: Any = None
    path: str | None = None
    mode: str | None = None
    optional: bool = False

    @property
    def is_literal(self) -> bool:
        return self.type in LITERAL_TYPES


@dataclass
class JobOutput:
    type: str = "uri_folder"
    path: str | None = None
    mode: str = "rw_mount"


@dataclass
class StatusChange:
    status: str
    time: float
    reason: str = ""


@dataclass
class Job:
    """A job: a command job, or the record of a pipeline or sweep (``type``).

    ``studio_url`` is azure-ai-ml's link to the job in the studio: the SDK sets it, on every job
    it returns, to the job's page in Ember's studio (``<server>/ws/<workspace>/jobs/<name>``);
    it is None on a job not submitted.
    """

    name: str
    command: str
    type: str = "command"
    display_name: str = ""
    experiment_name: str = "Default"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    code: str | None = None
    # Either "name:version" of a registered environment, or an inline Environment.
    environment: str | Environment | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    compute: str = "local"
    inputs: dict[str, JobInput] = field(default_factory=dict)
    outputs: dict[str, JobOutput] = field(default_factory=dict)
    timeout: float | None = None
    # As written in the YAML (plain data): ``distribution`` {type, process_count_per_instance,
    # worker_count, parameter_server_count, ...} and ``resources`` {instance_count, ...}.
    distribution: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None
    status: str = JobStatus.QUEUED
    status_history: list[StatusChange] = field(default_factory=list)
    error: str | None = None
    creation_time: float = 0.0
    start_time: float | None = None
    end_time: float | None = None
    parent_job_name: str | None = None
    experiment_id: str | None = None
    runner: dict[str, Any] = field(default_factory=dict)
    # Pipeline and sweep jobs: their definition as plain JSON (see entities.pipelines).
    definition: dict[str, Any] | None = None
    # Steps of a pipeline: the step this job runs, and the reuse facts (see engine.reuse).
    step_name: str | None = None
    component: str | None = None
    is_deterministic: bool = True
    reuse_key: str | None = None
    reused_from: str | None = None
    # Hidden from ``GET /jobs`` unless asked for (az ml job archive / restore); still readable.
    is_archived: bool = False
    # Who submitted it (the user of the caller's principal; a pipeline's step, a sweep's trial
    # or a job submitted with a job's token: that job's submitter). Azure's
    # ``creation_context.created_by``; None for jobs recorded before it was kept.
    submitter: str | None = None
    studio_url: str | None = field(default=None, compare=False, repr=False)

    @property
    def creation_context(self) -> CreationContext:
        """azure-ai-ml's ``job.creation_context`` (``created_by``, ``created_at``)."""
        return CreationContext(created_by=self.submitter, created_at=self.creation_time)


@dataclass(frozen=True)
class CreationContext:
    """azure-ai-ml's ``job.creation_context``: who created the job, and when (epoch s)."""

    created_by: str | None
    created_at: float


JOB_SORT_KEYS = ("creation_time", "name", "display_name", "status", "type", "experiment_name",
                 "duration", "submitter")


@dataclass
class JobQuery:
    """What ``GET /jobs`` asks of the store: filters (each None or empty: no filter; several
    values of one: any of them; different filters: all of them), an order and a page.

    ``tags``: (key, value) pairs, value None for "has the tag". ``search``: a case-insensitive
    substring of the name, display name, experiment or description. ``order_by``: one of
    ``JOB_SORT_KEYS`` (``duration``: end, or now for a job still going, minus start; jobs
    not started last). Ties are broken by name, so pages never overlap."""

    parent_job_name: str | None = None
    top_level_only: bool = False
    statuses: list[str] = field(default_factory=list)
    experiment_names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    tags: list[tuple[str, str | None]] = field(default_factory=list)
    submitters: list[str] = field(default_factory=list)
    created_after: float | None = None
    created_before: float | None = None
    search: str | None = None
    archived: bool | None = False
    order_by: str = "creation_time"
    descending: bool = True
    skip: int = 0
    max_results: int = 100


def job_from_plain(d: dict[str, Any]) -> Job:
    """A Job from ``dataclasses.asdict(job)`` output (unknown keys ignored)."""
    return from_plain(Job, d)
