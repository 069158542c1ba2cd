"""Tracking entities (MLflow's experiments, runs, metrics, logged models) and search terms.

A leaf module: the tracking store takes and returns these, the service builds them, and
``ember.tracking.wire`` turns them into MLflow's JSON. Times are epoch milliseconds, as in MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar, Union

T = TypeVar("T")


class RunStatus:
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = frozenset({RUNNING, SCHEDULED, FINISHED, FAILED, KILLED})
    TERMINAL = frozenset({FINISHED, FAILED, KILLED})


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType:
    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"

    @staticmethod
    def stages(view_type: str) -> tuple[str, ...]:
        if view_type == ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        if view_type == ViewType.ALL:
            return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)
        return (LifecycleStage.ACTIVE,)


class LoggedModelStatus:
    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"
    ALL = frozenset({PENDING, READY, UPLOAD_FAILED})


DEFAULT_EXPERIMENT_NAME = "Default"
# The MLflow client logs to experiment "0" when none is set; Ember maps it, per workspace, to
# that workspace's "Default" experiment because experiment ids are unique across workspaces.
DEFAULT_EXPERIMENT_ID = "0"
MLFLOW_ARTIFACTS_SCHEME = "mlflow-artifacts:"
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"


def experiment_artifact_location(experiment_id: str) -> str:
    return f"{MLFLOW_ARTIFACTS_SCHEME}/{experiment_id}"


@dataclass(slots=True)
class Experiment:
    experiment_id: str
    workspace: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Metric:
    key: str
    value: float  # NaN is kept as NaN here; stores persist it as is_nan
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


# One point of a metric's history as read back: (step, timestamp, value); None stands for NaN.
HistoryPoint = tuple[int, int, Union[float, None]]


@dataclass(slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    workspace: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str


@dataclass(slots=True)
class DatasetInput:
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str = ""
    profile: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ModelOutput:
    model_id: str
    step: int = 0


@dataclass(slots=True)
class Run:
    info: RunInfo
    metrics: list[Metric] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[str] = field(default_factory=list)
    model_outputs: list[ModelOutput] = field(default_factory=list)


@dataclass(slots=True)
class LoggedModel:
    model_id: str
    workspace: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    status: str = LoggedModelStatus.PENDING
    lifecycle_stage: str = LifecycleStage.ACTIVE
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)


# --- search terms, produced by ember.tracking.search and translated by each store ---

ClauseValue = Union[str, float, list[str], None]


@dataclass(frozen=True, slots=True)
class Clause:
    """``<entity>.<key> <op> <value>``; entity is metric, param, tag or attribute.

    ``op`` is one of = != > >= < <= LIKE ILIKE IN NOT_IN IS_NULL IS_NOT_NULL; ``value`` is a float
    for numeric comparisons, a list for IN, None for the IS forms, else a string.
    """

    entity: str
    key: str
    op: str
    value: ClauseValue


@dataclass(frozen=True, slots=True)
class OrderKey:
    entity: str
    key: str
    ascending: bool = True


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of search results; ``next_offset`` is None on the last page."""

    items: list[T]
    next_offset: int | None = None
