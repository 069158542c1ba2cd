"""The tracking service: MLflow experiments, runs and logging for the routes and the job engine.

Validation and MLflow's conventions live here (experiment "0", run names, the mlflow.runName
tag, truncation); persistence is the TrackingStore's. Logged models and artifacts are in the
mixins of ``ember.tracking.models`` and ``ember.tracking.artifacts``.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Sequence

from ember.artifacts.store import ArtifactStore
from ember.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from ember.store.tracking import TrackingStore
from ember.tracking import validation as v
from ember.tracking.artifacts import TrackingArtifactsMixin
from ember.tracking.downsample import MAX_POINTS, MIN_POINTS, downsample
from ember.entities.tracking import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    MLFLOW_ARTIFACTS_SCHEME,
    RUN_NAME_TAG,
    USER_TAG,
    DatasetInput,
    Experiment,
    HistoryPoint,
    LifecycleStage,
    Metric,
    ModelOutput,
    Page,
    Run,
    RunInfo,
    RunStatus,
    ViewType,
)
from ember.tracking.models import LoggedModelsMixin
from ember.tracking.search import (
    EXPERIMENT_ATTRIBUTES,
    RUN_ATTRIBUTE_ALIASES,
    RUN_ATTRIBUTES,
    parse_filter,
    parse_order_by,
)

_ADJECTIVES = ("bold", "calm", "brave", "bright", "clever", "eager", "gentle", "keen", "lucky",
               "merry", "quick", "quiet", "rare", "sunny", "swift", "wise")
_NOUNS = ("otter", "falcon", "maple", "comet", "ember", "river", "lynx", "cedar", "heron",
          "quartz", "badger", "willow", "orca", "sparrow", "aspen", "koala")
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"


def now_ms() -> int:
    return int(time.time() * 1000)


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"


def _status(status: str) -> str:
    if status not in RunStatus.ALL:
        raise InvalidInputError(
            f"Invalid run status {status!r}; one of {', '.join(sorted(RunStatus.ALL))}")
    return status


class TrackingService(LoggedModelsMixin, TrackingArtifactsMixin):
    def __init__(self, store: TrackingStore, artifacts: ArtifactStore) -> None:
        self.store = store
        self.artifacts = artifacts

    # --- experiments ---

    def experiment_id(self, workspace: str, experiment_id: object) -> str:
        """Validate an experiment id; "0", MLflow's default, means this workspace's Default."""
        if experiment_id is None or experiment_id == "":
            raise InvalidInputError("Missing value for required parameter 'experiment_id'.")
        text = str(experiment_id)
        if text == DEFAULT_EXPERIMENT_ID:
            return self.ensure_experiment(workspace, DEFAULT_EXPERIMENT_NAME)
        if not (text.isascii() and text.isdigit()):   # "³" is a digit, not an int
            raise InvalidInputError(
                f"Invalid experiment ID '{text}'. Experiment ID must be a valid integer.")
        return text

    def ensure_experiment(self, workspace: str, name: str) -> str:
        """The id of the experiment called ``name``, created when missing."""
        try:
            return self.store.get_experiment_by_name(workspace, name).experiment_id
        except NotFoundError:
            pass
        try:
            return self.create_experiment(workspace, name)
        except AlreadyExistsError:
            # Lost a race with another creator: the experiment exists now.
            return self.store.get_experiment_by_name(workspace, name).experiment_id

    def create_experiment(self, workspace: str, name: object, artifact_location: str | None = None,
                          tags: Sequence[tuple[str, str]] = ()) -> str:
        return self.store.create_experiment(
            workspace, v.check_experiment_name(name), artifact_location=artifact_location or None,
            tags=v.check_tags(tags, v.MAX_EXPERIMENT_TAG_VALUE_LENGTH), creation_time=now_ms())

    def get_experiment(self, workspace: str, experiment_id: object) -> Experiment:
        return self.store.get_experiment(workspace, self.experiment_id(workspace, experiment_id))

    def get_experiment_by_name(self, workspace: str, name: object) -> Experiment:
        if not isinstance(name, str) or not name:
            raise InvalidInputError("Missing value for required parameter 'experiment_name'.")
        return self.store.get_experiment_by_name(workspace, name)

    def search_experiments(self, workspace: str, *, view_type: str = ViewType.ACTIVE_ONLY,
                           max_results: int | None = None, filter_string: str | None = None,
                           order_by: Sequence[str] = (), offset: int = 0) -> Page[Experiment]:
        return self.store.search_experiments(
            workspace, stages=ViewType.stages(view_type),
            clauses=parse_filter(filter_string, EXPERIMENT_ATTRIBUTES),
            order_by=parse_order_by(order_by, EXPERIMENT_ATTRIBUTES),
            max_results=v.page_size(max_results, 1000, v.MAX_RUNS_PER_SEARCH), offset=offset)

    def rename_experiment(self, workspace: str, experiment_id: object, new_name: object) -> None:
        self.store.rename_experiment(workspace, self.experiment_id(workspace, experiment_id),
                                     v.check_experiment_name(new_name), now_ms())

    def delete_experiment(self, workspace: str, experiment_id: object) -> None:
        self.store.set_experiment_stage(workspace, self.experiment_id(workspace, experiment_id),
                                        LifecycleStage.DELETED, now_ms())

    def restore_experiment(self, workspace: str, experiment_id: object) -> None:
        self.store.set_experiment_stage(workspace, self.experiment_id(workspace, experiment_id),
                                        LifecycleStage.ACTIVE, now_ms())

    def set_experiment_tag(self, workspace: str, experiment_id: object, key: object,
                           value: object) -> None:
        self.store.set_experiment_tag(
            workspace, self.experiment_id(workspace, experiment_id), v.check_key(key),
            v.truncated(value, v.MAX_EXPERIMENT_TAG_VALUE_LENGTH, "value"))

    def delete_experiment_tag(self, workspace: str, experiment_id: object, key: object) -> None:
        self.store.delete_experiment_tag(
            workspace, self.experiment_id(workspace, experiment_id), v.check_key(key))

    # --- runs ---

    def create_run(self, workspace: str, *, experiment_id: object, user_id: str = "",
                   run_name: str = "", start_time: int | None = None,
                   tags: Sequence[tuple[str, str]] = ()) -> Run:
        """A new RUNNING run with a 32-hex id, named like MLflow names runs."""
        return self._create_run(workspace, uuid.uuid4().hex,
                                self.experiment_id(workspace, experiment_id), user_id,
                                run_name, start_time or now_ms(), v.check_tags(tags),
                                RunStatus.RUNNING)

    def create_job_run(self, workspace: str, *, run_id: str, experiment_id: str, run_name: str,
                       start_time_ms: int, tags: dict[str, str],
                       status: str = RunStatus.SCHEDULED, end_time_ms: int | None = None) -> None:
        """The run of a job, named by the job (SCHEDULED unless ``status`` says otherwise, e.g.
        FINISHED for a reused pipeline step). Raises AlreadyExistsError."""
        self._create_run(workspace, v.check_run_id(run_id),
                         self.experiment_id(workspace, experiment_id), tags.get(USER_TAG, ""),
                         run_name, start_time_ms, v.check_tags(list(tags.items())),
                         _status(status), end_time=end_time_ms)

    def _create_run(self, workspace: str, run_id: str, experiment_id: str, user_id: str,
                    run_name: str, start_time: int, tags: dict[str, str], status: str,
                    end_time: int | None = None) -> Run:
        experiment = self.store.get_experiment(workspace, experiment_id)
        name = run_name or tags.get(RUN_NAME_TAG) or random_run_name()
        tags[RUN_NAME_TAG] = name
        info = RunInfo(run_id=run_id, experiment_id=experiment_id, workspace=workspace,
                       run_name=name, user_id=user_id or tags.get(USER_TAG, ""), status=status,
                       start_time=start_time, end_time=end_time,
                       lifecycle_stage=LifecycleStage.ACTIVE,
                       artifact_uri=f"{experiment.artifact_location.rstrip('/')}/{run_id}"
                                    "/artifacts")
        return self.store.create_run(info, tags)

    def get_run(self, workspace: str, run_id: object) -> Run:
        return self.store.get_run(workspace, v.check_run_id(run_id))

    def update_run(self, workspace: str, run_id: object, *, status: str | None = None,
                   end_time: int | None = None, run_name: str | None = None) -> RunInfo:
        return self.store.update_run(workspace, v.check_run_id(run_id),
                                     status=_status(status) if status else None,
                                     end_time=end_time, run_name=run_name or None)

    def set_run_status(self, run_id: str, status: str, end_time_ms: int | None = None) -> None:
        """For the job engine: move a run (any workspace) to an MLflow status."""
        self.store.update_run(None, run_id, status=_status(status), end_time=end_time_ms)

    def delete_run(self, workspace: str, run_id: object) -> None:
        self.store.set_run_stage(workspace, v.check_run_id(run_id), LifecycleStage.DELETED,
                                 now_ms())

    def restore_run(self, workspace: str, run_id: object) -> None:
        self.store.set_run_stage(workspace, v.check_run_id(run_id), LifecycleStage.ACTIVE, None)

    def search_runs(self, workspace: str, experiment_ids: Sequence[object], *,
                    filter_string: str | None = None, view_type: str = ViewType.ACTIVE_ONLY,
                    max_results: int | None = None, order_by: Sequence[str] = (),
                    offset: int = 0) -> Page[Run]:
        ids = [self.experiment_id(workspace, e) for e in experiment_ids]
        return self.store.search_runs(
            workspace, ids, stages=ViewType.stages(view_type),
            clauses=parse_filter(filter_string, RUN_ATTRIBUTES, RUN_ATTRIBUTE_ALIASES),
            order_by=parse_order_by(order_by, RUN_ATTRIBUTES, RUN_ATTRIBUTE_ALIASES),
            max_results=v.page_size(max_results, 1000, v.MAX_RUNS_PER_SEARCH), offset=offset)

    def run_artifact_prefix(self, workspace: str, run_id: str) -> str:
        """ArtifactStore path of the run's artifact root (for the job engine)."""
        info = self.store.get_run_info(workspace, run_id)
        uri = info.artifact_uri
        if uri.startswith(MLFLOW_ARTIFACTS_SCHEME):
            path = uri[len(MLFLOW_ARTIFACTS_SCHEME):].lstrip("/")
            if uri.startswith(f"{MLFLOW_ARTIFACTS_SCHEME}//"):
                path = path.partition("/")[2]  # drop a //host part
            return self.mlflow_artifact_path(workspace, path)
        return self.mlflow_artifact_path(workspace, f"{info.experiment_id}/{run_id}/artifacts")

    # --- logging ---

    def log_batch(self, workspace: str | None, run_id: object, metrics: Sequence[Metric] = (),
                  params: Sequence[tuple[str, str]] = (),
                  tags: Sequence[tuple[str, str]] = ()) -> None:
        """Log metrics, params and tags atomically (``workspace=None``: any workspace)."""
        run_id = v.check_run_id(run_id)
        v.check_batch_sizes(len(metrics), len(params), len(tags))
        v.check_metrics(metrics)
        self.store.log_batch(workspace, run_id, metrics, v.check_params(params),
                             v.check_tags(tags))

    def log_metric(self, workspace: str | None, run_id: object, metric: Metric) -> None:
        self.log_batch(workspace, run_id, metrics=[metric])

    def log_param(self, workspace: str, run_id: object, key: str, value: str) -> None:
        self.log_batch(workspace, run_id, params=[(key, value)])

    def set_tag(self, workspace: str, run_id: object, key: str, value: str) -> None:
        self.log_batch(workspace, run_id, tags=[(key, value)])

    def delete_tag(self, workspace: str, run_id: object, key: object) -> None:
        self.store.delete_run_tag(workspace, v.check_run_id(run_id), v.check_key(key))

    def record_logged_model(self, workspace: str, run_id: object, model_json: str) -> None:
        """Legacy ``runs/log-model``: append the model's metadata to the run's history tag."""
        try:
            model = json.loads(model_json)
        except ValueError as exc:
            raise InvalidInputError(f"model_json is not valid JSON: {exc}") from exc
        run = self.store.get_run(workspace, v.check_run_id(run_id))
        try:
            history = json.loads(run.tags.get(LOG_MODEL_HISTORY_TAG, "[]"))
        except ValueError:
            history = []
        history = (history if isinstance(history, list) else []) + [model]
        # Written as is: MLflow does not truncate this tag either.
        self.store.log_batch(workspace, run.info.run_id, [], {},
                             {LOG_MODEL_HISTORY_TAG: json.dumps(history)})

    def log_inputs(self, workspace: str, run_id: object, datasets: Sequence[DatasetInput],
                   model_ids: Sequence[str]) -> None:
        self.store.log_inputs(workspace, v.check_run_id(run_id), datasets, model_ids)

    def log_outputs(self, workspace: str, run_id: object, models: Sequence[ModelOutput]) -> None:
        self.store.log_outputs(workspace, v.check_run_id(run_id), models)

    def get_metric_history(self, workspace: str | None, run_id: object, key: object, *,
                           max_results: int | None = None,
                           after: tuple[int, int, int] | None = None
                           ) -> tuple[list[HistoryPoint], tuple[int, int, int] | None]:
        """One metric's points by (step, timestamp), and the cursor of the next page."""
        if not isinstance(key, str) or not key:
            raise InvalidInputError("Missing value for required parameter 'metric_key'.")
        limit = None if max_results is None else v.page_size(max_results, 0, 2**31 - 1)
        return self.store.get_metric_history(workspace, v.check_run_id(run_id), key,
                                             after=after, limit=limit)

    def sampled_metric_histories(self, workspace: str, run_id: object, *, max_points: int,
                                 keys: Sequence[str] | None = None
                                 ) -> list[tuple[str, int, list[HistoryPoint]]]:
        """``(key, total, points)`` for each metric of the run (or each of ``keys``), by key:
        at most ``max_points`` points each, downsampled keeping min and max per bucket."""
        if not MIN_POINTS <= max_points <= MAX_POINTS:
            raise InvalidInputError(f"max_points must be between {MIN_POINTS} and {MAX_POINTS}")
        run = self.store.get_run(workspace, v.check_run_id(run_id))
        wanted = sorted({m.key for m in run.metrics} if keys is None else set(keys))
        out: list[tuple[str, int, list[HistoryPoint]]] = []
        for key in wanted:
            points, _ = self.store.get_metric_history(workspace, run.info.run_id, key,
                                                      after=None, limit=None)
            out.append((key, len(points), downsample(points, max_points)))
        return out

    def get_metric_history_bulk_interval(self, workspace: str, run_ids: Sequence[str], key: str,
                                         *, start_step: int | None = None,
                                         end_step: int | None = None,
                                         max_results: int | None = None
                                         ) -> list[tuple[str, HistoryPoint]]:
        """Down-sampled histories of several runs: at most ``max_results`` evenly spread steps,
        always keeping the first and the last."""
        if not run_ids:
            raise InvalidInputError("GetMetricHistoryBulkInterval request must specify at least "
                                    "one run_id.")
        if len(run_ids) > v.MAX_BULK_INTERVAL_RUNS:
            raise InvalidInputError(f"at most {v.MAX_BULK_INTERVAL_RUNS} run_ids are allowed")
        if not key:
            raise InvalidInputError("Missing value for required parameter 'metric_key'.")
        limit = v.page_size(max_results, v.MAX_BULK_INTERVAL_RESULTS,
                            v.MAX_BULK_INTERVAL_RESULTS)
        ids = [v.check_run_id(r) for r in run_ids]
        steps = self.store.get_metric_steps(workspace, ids, key, start_step, end_step)
        if len(steps) > limit:
            if limit == 1:
                steps = steps[:1]
            else:
                last = len(steps) - 1
                steps = sorted({steps[round(i * last / (limit - 1))] for i in range(limit)})
        return self.store.get_metrics_at_steps(ids, key, steps) if steps else []
