"""Tracking store interface: MLflow experiments, runs, params, tags, metrics and logged models.

Every method that names a ``workspace`` treats an object of another workspace as missing
(NotFoundError). Run-scoped methods accept ``workspace=None`` for trusted internal callers (the
job engine) that address a run by its globally unique id alone. Input is validated by the
service (lengths, limits, key syntax); the store enforces only what needs the database:
existence, uniqueness, the active state of a run, and that a param never changes value.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from ember.entities.tracking import (
    Clause,
    DatasetInput,
    Experiment,
    HistoryPoint,
    LoggedModel,
    Metric,
    ModelOutput,
    OrderKey,
    Page,
    Run,
    RunInfo,
)


class TrackingStore(abc.ABC):
    # --- experiments ---

    @abc.abstractmethod
    def create_experiment(self, workspace: str, name: str, *, artifact_location: str | None,
                          tags: dict[str, str], creation_time: int) -> str:
        """Insert an experiment and return its id (a decimal string).

        ``artifact_location=None`` stores the default ``mlflow-artifacts:/<id>``.
        Raises AlreadyExistsError when the workspace has an experiment of that name (deleted
        ones included, as in MLflow).
        """

    @abc.abstractmethod
    def get_experiment(self, workspace: str, experiment_id: str) -> Experiment:
        """Raises NotFoundError (also for a non-numeric id)."""

    @abc.abstractmethod
    def get_experiment_by_name(self, workspace: str, name: str) -> Experiment:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def search_experiments(self, workspace: str, *, stages: Sequence[str],
                           clauses: Sequence[Clause], order_by: Sequence[OrderKey],
                           max_results: int, offset: int) -> Page[Experiment]:
        """Experiments in one of the lifecycle ``stages`` matching every clause.

        Clauses use entity ``attribute`` (name, experiment_id, creation_time, last_update_time)
        or ``tag``. Default order: last_update_time descending, then id.
        """

    @abc.abstractmethod
    def rename_experiment(self, workspace: str, experiment_id: str, new_name: str,
                          update_time: int) -> None:
        """Raises NotFoundError, AlreadyExistsError."""

    @abc.abstractmethod
    def set_experiment_stage(self, workspace: str, experiment_id: str, stage: str,
                             update_time: int) -> None:
        """Soft-delete or restore an experiment and, with it, its runs. Raises NotFoundError."""

    @abc.abstractmethod
    def set_experiment_tag(self, workspace: str, experiment_id: str, key: str,
                           value: str) -> None:
        """Insert or replace a tag. Raises NotFoundError."""

    @abc.abstractmethod
    def delete_experiment_tag(self, workspace: str, experiment_id: str, key: str) -> None:
        """Raises NotFoundError for an unknown experiment or tag."""

    # --- runs ---

    @abc.abstractmethod
    def create_run(self, info: RunInfo, tags: dict[str, str]) -> Run:
        """Insert a run with its tags; ``info.experiment_id`` must exist in ``info.workspace``.

        Raises AlreadyExistsError when the run id is taken, NotFoundError for the experiment.
        """

    @abc.abstractmethod
    def get_run(self, workspace: str | None, run_id: str) -> Run:
        """The run with params, tags, latest metrics, inputs and outputs. Raises NotFoundError."""

    @abc.abstractmethod
    def get_run_info(self, workspace: str | None, run_id: str) -> RunInfo:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def update_run(self, workspace: str | None, run_id: str, *, status: str | None = None,
                   end_time: int | None = None, run_name: str | None = None) -> RunInfo:
        """Change the given fields (a new name also rewrites the ``mlflow.runName`` tag).

        Returns the updated info. Raises NotFoundError.
        """

    @abc.abstractmethod
    def set_run_stage(self, workspace: str | None, run_id: str, stage: str,
                      deleted_time: int | None) -> None:
        """Soft-delete or restore a run. Raises NotFoundError."""

    @abc.abstractmethod
    def search_runs(self, workspace: str, experiment_ids: Sequence[str], *,
                    stages: Sequence[str], clauses: Sequence[Clause],
                    order_by: Sequence[OrderKey], max_results: int, offset: int) -> Page[Run]:
        """Runs of the given experiments matching every clause, fully loaded.

        Clause entities: ``metric`` (latest value), ``param``, ``tag``, ``attribute`` (run_id,
        run_name, status, user_id, artifact_uri, lifecycle_stage, start_time, end_time).
        Default order: start_time descending, then run_id. Missing sort values come last.
        """

    @abc.abstractmethod
    def log_batch(self, workspace: str | None, run_id: str, metrics: Sequence[Metric],
                  params: dict[str, str], tags: dict[str, str]) -> None:
        """Append metrics, insert params, upsert tags in one transaction, all or nothing.

        Also keeps the latest value per metric key (greatest (step, timestamp, value)).
        Metrics that carry a ``model_id`` are also linked to that logged model; one already in
        the run's history with the same (key, step, timestamp, value) is not appended again.
        Raises NotFoundError for the run, InvalidInputError when the run is not active or a
        param already has a different value.
        """

    @abc.abstractmethod
    def delete_run_tag(self, workspace: str | None, run_id: str, key: str) -> None:
        """Raises NotFoundError for the run or the tag, InvalidInputError for an inactive run."""

    @abc.abstractmethod
    def get_metric_history(self, workspace: str | None, run_id: str, key: str, *,
                           after: tuple[int, int, int] | None, limit: int | None
                           ) -> tuple[list[HistoryPoint], tuple[int, int, int] | None]:
        """Points (step, timestamp, value; None for NaN) of one metric ordered by (step,
        timestamp, insertion), at most ``limit`` of them (all when None).

        ``after`` is the opaque cursor returned by the previous page; the second result is the
        cursor for the next page, or None when this page is the last. Raises NotFoundError.
        """

    @abc.abstractmethod
    def get_metric_steps(self, workspace: str, run_ids: Sequence[str], key: str,
                         start_step: int | None, end_step: int | None) -> list[int]:
        """Distinct steps at which any of the runs logged ``key``, ascending.

        Raises NotFoundError when a run does not exist in the workspace.
        """

    @abc.abstractmethod
    def get_metrics_at_steps(self, run_ids: Sequence[str], key: str, steps: Sequence[int]
                             ) -> list[tuple[str, HistoryPoint]]:
        """(run_id, point) for every point of ``key`` at one of ``steps``, by run then step."""

    @abc.abstractmethod
    def log_inputs(self, workspace: str | None, run_id: str, datasets: Sequence[DatasetInput],
                   model_ids: Sequence[str]) -> None:
        """Record dataset and model inputs (a repeat of the same dataset or model is ignored).

        Raises NotFoundError, InvalidInputError for an inactive run.
        """

    @abc.abstractmethod
    def log_outputs(self, workspace: str | None, run_id: str,
                    models: Sequence[ModelOutput]) -> None:
        """Record logged models as outputs of a run. Raises NotFoundError."""

    # --- logged models (MLflow 3) ---

    @abc.abstractmethod
    def create_logged_model(self, model: LoggedModel) -> LoggedModel:
        """Insert a model with its tags and params. Raises NotFoundError for the experiment."""

    @abc.abstractmethod
    def get_logged_model(self, workspace: str, model_id: str, *,
                         allow_deleted: bool = False) -> LoggedModel:
        """Raises NotFoundError (also for a deleted model unless ``allow_deleted``)."""

    @abc.abstractmethod
    def update_logged_model(self, workspace: str, model_id: str, *, status: str,
                            update_time: int) -> LoggedModel:
        """Set the status (finalize). Raises NotFoundError."""

    @abc.abstractmethod
    def set_logged_model_tags(self, workspace: str, model_id: str, tags: dict[str, str],
                              update_time: int) -> None:
        """Insert or replace tags. Raises NotFoundError."""

    @abc.abstractmethod
    def delete_logged_model_tag(self, workspace: str, model_id: str, key: str) -> None:
        """Raises NotFoundError for the model or the tag."""

    @abc.abstractmethod
    def log_logged_model_params(self, workspace: str, model_id: str,
                                params: dict[str, str]) -> None:
        """Insert params (a repeated key keeps its first value). Raises NotFoundError."""

    @abc.abstractmethod
    def delete_logged_model(self, workspace: str, model_id: str, update_time: int) -> None:
        """Soft-delete. Raises NotFoundError."""

    @abc.abstractmethod
    def search_logged_models(self, workspace: str, experiment_ids: Sequence[str], *,
                             clauses: Sequence[Clause], order_by: Sequence[OrderKey],
                             max_results: int, offset: int) -> Page[LoggedModel]:
        """Active models of the experiments matching every clause, fully loaded.

        Clause entities: ``attribute`` (model_id, name, status, model_type, source_run_id,
        creation_timestamp, last_updated_timestamp), ``tag``, ``param``. Default order:
        creation time descending, then model_id.
        """
