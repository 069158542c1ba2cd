"""The TrackingStore contract, run against every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import time

import pytest

from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from ember.store.sql.store import SqlStore
from ember.store.tracking import TrackingStore
from ember.entities.tracking import (
    RUN_NAME_TAG,
    DatasetInput,
    LifecycleStage,
    LoggedModel,
    LoggedModelStatus,
    Metric,
    ModelOutput,
    OrderKey,
    RunInfo,
    RunStatus,
)
from ember.tracking.search import (
    EXPERIMENT_ATTRIBUTES,
    MODEL_ATTRIBUTES,
    RUN_ATTRIBUTE_ALIASES,
    RUN_ATTRIBUTES,
    parse_filter,
    parse_order_by,
)

WS = "default"
OTHER = "other"
ACTIVE = (LifecycleStage.ACTIVE,)


def _info(run_id: str, experiment_id: str, *, workspace: str = WS, start: int = 1000,
          name: str = "") -> RunInfo:
    return RunInfo(run_id=run_id, experiment_id=experiment_id, workspace=workspace,
                   run_name=name or run_id, user_id="u", status=RunStatus.RUNNING,
                   start_time=start, end_time=None, lifecycle_stage=LifecycleStage.ACTIVE,
                   artifact_uri=f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")


def _run_filter(text: str) -> list:  # type: ignore[type-arg]
    return parse_filter(text, RUN_ATTRIBUTES, RUN_ATTRIBUTE_ALIASES)


class TestTrackingStoreContract:
    """Backends subclass this and provide ``store`` with workspaces WS and OTHER present."""

    @pytest.fixture
    def store(self, sql_store: SqlStore) -> TrackingStore:
        return _with_workspaces(sql_store).tracking   # SQLite and PostgreSQL

    @pytest.fixture
    def exp(self, store: TrackingStore) -> str:
        return store.create_experiment(WS, "exp", artifact_location=None, tags={"team": "a"},
                                       creation_time=1)

    def _search(self, store: TrackingStore, exp: str, text: str = "",
                order: list[str] | None = None) -> list[str]:
        page = store.search_runs(WS, [exp], stages=ACTIVE, clauses=_run_filter(text),
                                 order_by=parse_order_by(order, RUN_ATTRIBUTES),
                                 max_results=100, offset=0)
        return [r.info.run_id for r in page.items]

    # --- experiments ---

    def test_experiment_create_get_and_default_location(self, store: TrackingStore,
                                                        exp: str) -> None:
        got = store.get_experiment(WS, exp)
        assert got.name == "exp" and got.tags == {"team": "a"}
        assert got.artifact_location == f"mlflow-artifacts:/{exp}"
        assert store.get_experiment_by_name(WS, "exp").experiment_id == exp
        custom = store.create_experiment(WS, "custom", artifact_location="mlflow-artifacts:/x",
                                         tags={}, creation_time=2)
        assert store.get_experiment(WS, custom).artifact_location == "mlflow-artifacts:/x"

    def test_experiment_names_are_unique_per_workspace(self, store: TrackingStore,
                                                       exp: str) -> None:
        with pytest.raises(AlreadyExistsError):
            store.create_experiment(WS, "exp", artifact_location=None, tags={}, creation_time=2)
        other = store.create_experiment(OTHER, "exp", artifact_location=None, tags={},
                                        creation_time=2)
        assert other != exp
        with pytest.raises(NotFoundError):
            store.get_experiment(OTHER, exp)
        with pytest.raises(NotFoundError):
            store.get_experiment(WS, "not-a-number")
        with pytest.raises(NotFoundError):
            store.get_experiment_by_name(WS, "missing")

    def test_experiment_rename_tags_delete_restore(self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        store.rename_experiment(WS, exp, "renamed", 5)
        assert store.get_experiment(WS, exp).name == "renamed"
        store.set_experiment_tag(WS, exp, "team", "b")
        store.set_experiment_tag(WS, exp, "k", "v")
        store.delete_experiment_tag(WS, exp, "k")
        assert store.get_experiment(WS, exp).tags == {"team": "b"}
        with pytest.raises(NotFoundError):
            store.delete_experiment_tag(WS, exp, "k")
        store.set_experiment_stage(WS, exp, LifecycleStage.DELETED, 6)
        assert store.get_run_info(WS, "r1").lifecycle_stage == LifecycleStage.DELETED
        with pytest.raises(AlreadyExistsError, match="deleted"):
            store.create_experiment(WS, "renamed", artifact_location=None, tags={},
                                    creation_time=7)
        store.set_experiment_stage(WS, exp, LifecycleStage.ACTIVE, 8)
        assert store.get_run_info(WS, "r1").lifecycle_stage == LifecycleStage.ACTIVE

    def test_search_experiments_filters_orders_and_pages(self, store: TrackingStore) -> None:
        for i in range(5):
            store.create_experiment(WS, f"proj-{i}", artifact_location=None,
                                    tags={"parity": "even" if i % 2 == 0 else "odd"},
                                    creation_time=100 + i)
        store.create_experiment(OTHER, "proj-x", artifact_location=None, tags={},
                                creation_time=1)
        clauses = parse_filter("name LIKE 'proj-%' and tags.parity = 'even'",
                               EXPERIMENT_ATTRIBUTES)
        order = parse_order_by(["creation_time ASC"], EXPERIMENT_ATTRIBUTES)
        first = store.search_experiments(WS, stages=ACTIVE, clauses=clauses, order_by=order,
                                         max_results=2, offset=0)
        assert [e.name for e in first.items] == ["proj-0", "proj-2"]
        assert first.next_offset == 2
        rest = store.search_experiments(WS, stages=ACTIVE, clauses=clauses, order_by=order,
                                        max_results=2, offset=2)
        assert [e.name for e in rest.items] == ["proj-4"] and rest.next_offset is None

    # --- runs ---

    def test_run_create_get_and_workspace_confinement(self, store: TrackingStore,
                                                      exp: str) -> None:
        store.create_run(_info("r1", exp), {RUN_NAME_TAG: "r1"})
        run = store.get_run(WS, "r1")
        assert run.info.status == RunStatus.RUNNING and run.tags == {RUN_NAME_TAG: "r1"}
        assert run.info.experiment_id == exp
        assert store.get_run(None, "r1").info.workspace == WS
        with pytest.raises(NotFoundError):
            store.get_run(OTHER, "r1")
        with pytest.raises(AlreadyExistsError):
            store.create_run(_info("r1", exp), {})
        with pytest.raises(NotFoundError):
            store.create_run(_info("r2", exp, workspace=OTHER), {})

    def test_update_run_status_end_time_and_name(self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        info = store.update_run(WS, "r1", status=RunStatus.FINISHED, end_time=99,
                                run_name="better")
        assert (info.status, info.end_time, info.run_name) == (RunStatus.FINISHED, 99, "better")
        assert store.get_run(WS, "r1").tags[RUN_NAME_TAG] == "better"
        store.update_run(None, "r1", status=RunStatus.FAILED)
        assert store.get_run_info(WS, "r1").status == RunStatus.FAILED

    def test_log_batch_writes_all_and_keeps_latest(self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        store.log_batch(WS, "r1", [Metric("acc", 0.5, 10, 1), Metric("acc", 0.9, 11, 3),
                                   Metric("acc", 0.7, 12, 2), Metric("loss", math.nan, 5, 0)],
                        {"lr": "0.1"}, {"t": "1"})
        store.log_batch(WS, "r1", [Metric("acc", 0.1, 9, 3)], {}, {"t": "2"})
        run = store.get_run(WS, "r1")
        latest = {m.key: m for m in run.metrics}
        assert (latest["acc"].value, latest["acc"].step) == (0.9, 3)
        assert math.isnan(latest["loss"].value)
        assert run.params == {"lr": "0.1"} and run.tags == {"t": "2"}
        points, cursor = store.get_metric_history(WS, "r1", "acc", after=None, limit=None)
        assert [(p[0], p[2]) for p in points] == [(1, 0.5), (2, 0.7), (3, 0.1), (3, 0.9)]
        assert cursor is None
        nan_points, _ = store.get_metric_history(WS, "r1", "loss", after=None, limit=None)
        assert nan_points == [(0, 5, None)]

    def test_params_never_change_and_a_failing_batch_writes_nothing(
            self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        store.log_batch(WS, "r1", [], {"lr": "0.1"}, {})
        store.log_batch(WS, "r1", [], {"lr": "0.1"}, {})  # same value: accepted
        with pytest.raises(InvalidInputError, match="Changing param values is not allowed"):
            store.log_batch(WS, "r1", [Metric("m", 1.0, 1, 0)], {"lr": "0.2", "new": "x"},
                            {"t": "1"})
        run = store.get_run(WS, "r1")
        assert run.params == {"lr": "0.1"} and run.metrics == [] and run.tags == {}

    def test_logging_needs_an_active_run_of_the_workspace(self, store: TrackingStore,
                                                          exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        with pytest.raises(NotFoundError):
            store.log_batch(OTHER, "r1", [Metric("m", 1.0, 1, 0)], {}, {})
        with pytest.raises(NotFoundError):
            store.log_batch(WS, "missing", [Metric("m", 1.0, 1, 0)], {}, {})
        store.set_run_stage(WS, "r1", LifecycleStage.DELETED, 5)
        with pytest.raises(InvalidInputError, match="active"):
            store.log_batch(WS, "r1", [Metric("m", 1.0, 1, 0)], {}, {})
        store.set_run_stage(WS, "r1", LifecycleStage.ACTIVE, None)
        store.log_batch(WS, "r1", [Metric("m", 1.0, 1, 0)], {}, {})

    def test_metric_history_pages_with_a_cursor(self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        store.log_batch(WS, "r1", [Metric("x", float(i), 1000 + i, i // 2) for i in range(25)],
                        {}, {})
        seen, cursor, pages = [], None, 0
        while True:
            points, cursor = store.get_metric_history(WS, "r1", "x", after=cursor, limit=10)
            seen += [p[2] for p in points]
            pages += 1
            if cursor is None:
                break
        assert seen == [float(i) for i in range(25)] and pages == 3

    def test_delete_run_tag(self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {"a": "1", "b": "2"})
        store.delete_run_tag(WS, "r1", "a")
        assert store.get_run(WS, "r1").tags == {"b": "2"}
        with pytest.raises(NotFoundError):
            store.delete_run_tag(WS, "r1", "a")

    def test_search_runs_filters(self, store: TrackingStore, exp: str) -> None:
        for i, (acc, lr, status) in enumerate([(0.3, "0.1", "FINISHED"), (0.6, "0.1", "FAILED"),
                                               (0.9, "0.2", "FINISHED")]):
            store.create_run(_info(f"r{i}", exp, start=1000 + i, name=f"run-{i}"),
                             {"family": "cnn" if i < 2 else "rnn"})
            store.log_batch(WS, f"r{i}", [Metric("acc", acc, 1, 0)], {"lr": lr}, {})
            store.update_run(WS, f"r{i}", status=status)
        assert self._search(store, exp) == ["r2", "r1", "r0"]  # newest first
        assert self._search(store, exp, "metrics.acc > 0.5") == ["r2", "r1"]
        assert self._search(store, exp, "metrics.acc > 0.5 and params.lr = '0.1'") == ["r1"]
        assert self._search(store, exp, "tags.family = 'cnn' and "
                                         "attributes.status = 'FINISHED'") == ["r0"]
        assert self._search(store, exp, "run_name LIKE 'run-%' and tags.family != 'cnn'") == \
            ["r2"]
        assert self._search(store, exp, "attributes.run_id IN ('r0', 'r2')") == ["r2", "r0"]
        assert self._search(store, exp, "tags.family ILIKE 'CN%'") == ["r1", "r0"]
        assert self._search(store, exp, "tags.family LIKE 'CN%'") == []
        assert self._search(store, exp, "tags.missing IS NULL and start_time >= 1001") == \
            ["r2", "r1"]

    def test_search_runs_orders_pages_and_views(self, store: TrackingStore, exp: str) -> None:
        for i, acc in enumerate([0.5, None, 0.9, 0.1]):
            store.create_run(_info(f"r{i}", exp, start=1000 + i), {})
            if acc is not None:
                store.log_batch(WS, f"r{i}", [Metric("acc", acc, 1, 0)], {}, {})
        # A run without the metric sorts last in both directions.
        assert self._search(store, exp, order=["metrics.acc DESC"]) == ["r2", "r0", "r3", "r1"]
        assert self._search(store, exp, order=["metrics.acc"]) == ["r3", "r0", "r2", "r1"]
        page = store.search_runs(WS, [exp], stages=ACTIVE, clauses=[],
                                 order_by=[OrderKey("attribute", "start_time", True)],
                                 max_results=3, offset=0)
        assert [r.info.run_id for r in page.items] == ["r0", "r1", "r2"]
        assert page.next_offset == 3
        store.set_run_stage(WS, "r0", LifecycleStage.DELETED, 1)
        assert "r0" not in self._search(store, exp)
        deleted = store.search_runs(WS, [exp], stages=(LifecycleStage.DELETED,), clauses=[],
                                    order_by=[], max_results=10, offset=0)
        assert [r.info.run_id for r in deleted.items] == ["r0"]
        assert store.search_runs(OTHER, [exp], stages=ACTIVE, clauses=[], order_by=[],
                                 max_results=10, offset=0).items == []

    def test_inputs_and_outputs(self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        ds = DatasetInput(name="iris", digest="abc", source_type="local", source="{}",
                          tags={"mlflow.data.context": "train"})
        store.log_inputs(WS, "r1", [ds], ["m-1"])
        store.log_inputs(WS, "r1", [ds], ["m-1"])  # repeats are ignored
        store.log_outputs(WS, "r1", [ModelOutput("m-2", 3)])
        run = store.get_run(WS, "r1")
        assert run.dataset_inputs == [ds] and run.model_inputs == ["m-1"]
        assert run.model_outputs == [ModelOutput("m-2", 3)]

    def test_bulk_interval_steps(self, store: TrackingStore, exp: str) -> None:
        for rid in ("a", "b"):
            store.create_run(_info(rid, exp), {})
            store.log_batch(WS, rid, [Metric("x", float(s), 1, s) for s in range(0, 10, 2)],
                            {}, {})
        assert store.get_metric_steps(WS, ["a", "b"], "x", 2, 6) == [2, 4, 6]
        got = store.get_metrics_at_steps(["a", "b"], "x", [0, 8])
        assert [(rid, p[0]) for rid, p in got] == [("a", 0), ("a", 8), ("b", 0), ("b", 8)]

    # --- logged models ---

    def _model(self, exp: str, model_id: str, name: str = "model") -> LoggedModel:
        now = int(time.time() * 1000)
        return LoggedModel(model_id=model_id, workspace=WS, experiment_id=exp, name=name,
                           artifact_location=f"mlflow-artifacts:/{exp}/models/{model_id}",
                           creation_timestamp_ms=now, last_updated_timestamp_ms=now,
                           source_run_id="r1", params={"p": "1"}, tags={"t": "1"})

    def test_logged_model_lifecycle(self, store: TrackingStore, exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        store.create_logged_model(self._model(exp, "m-1"))
        store.create_logged_model(self._model(exp, "m-2", name="other"))
        got = store.get_logged_model(WS, "m-1")
        assert got.status == LoggedModelStatus.PENDING and got.params == {"p": "1"}
        ready = store.update_logged_model(WS, "m-1", status=LoggedModelStatus.READY,
                                          update_time=5)
        assert ready.status == LoggedModelStatus.READY
        store.set_logged_model_tags(WS, "m-1", {"t": "2", "u": "3"}, 6)
        store.delete_logged_model_tag(WS, "m-1", "u")
        store.log_logged_model_params(WS, "m-1", {"q": "2"})
        got = store.get_logged_model(WS, "m-1")
        assert got.tags == {"t": "2"} and got.params == {"p": "1", "q": "2"}
        with pytest.raises(NotFoundError):
            store.get_logged_model(OTHER, "m-1")
        found = store.search_logged_models(
            WS, [exp], clauses=parse_filter("name = 'model'", MODEL_ATTRIBUTES), order_by=[],
            max_results=10, offset=0)
        assert [m.model_id for m in found.items] == ["m-1"]
        store.delete_logged_model(WS, "m-1", 7)
        with pytest.raises(NotFoundError):
            store.get_logged_model(WS, "m-1")
        assert store.get_logged_model(WS, "m-1", allow_deleted=True).model_id == "m-1"

    def test_model_linked_metrics_do_not_repeat_history(self, store: TrackingStore,
                                                        exp: str) -> None:
        store.create_run(_info("r1", exp), {})
        store.create_logged_model(self._model(exp, "m-1"))
        store.log_batch(WS, "r1", [Metric("acc", 0.5, 10, 0)], {}, {})
        store.log_batch(WS, "r1", [Metric("acc", 0.5, 10, 0, model_id="m-1"),
                                   Metric("new", 1.0, 10, 0, model_id="m-1")], {}, {})
        points, _ = store.get_metric_history(WS, "r1", "acc", after=None, limit=None)
        assert len(points) == 1
        assert [m.key for m in store.get_run(WS, "r1").metrics] == ["acc", "new"]
        assert {m.key for m in store.get_logged_model(WS, "m-1").metrics} == {"acc", "new"}


def _with_workspaces(sql: SqlStore) -> SqlStore:
    for name in (WS, OTHER):
        sql.workspaces.create(Workspace(name=name, creation_time=time.time()))
    return sql
