"""MLflow 3 logged models in SQL: the model row, its tags, params and linked metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.errors import NotFoundError
from ember.store.sql import tables as t
from ember.store.sql.base import raise_duplicate
from ember.store.sql.tracking_query import (
    MODEL_CHILDREN,
    chunks,
    clause_condition,
    dialect_insert,
    experiment_row,
    metric_of,
    order_expressions,
    parse_int_id,
)
from ember.entities.tracking import Clause, LifecycleStage, LoggedModel, OrderKey, Page


def _model_attributes() -> dict[str, Any]:
    c = t.logged_models.c
    return {"model_id": c.model_id, "name": c.name, "status": c.status,
            "model_type": c.model_type, "source_run_id": c.source_run_id,
            "creation_timestamp": c.creation_timestamp_ms,
            "last_updated_timestamp": c.last_updated_timestamp_ms}


def _load_models(conn: Connection, rows: Sequence[Any]) -> list[LoggedModel]:
    models = {r.model_id: LoggedModel(
        model_id=r.model_id, workspace=r.workspace, experiment_id=str(r.experiment_id),
        name=r.name, artifact_location=r.artifact_location,
        creation_timestamp_ms=r.creation_timestamp_ms,
        last_updated_timestamp_ms=r.last_updated_timestamp_ms, status=r.status,
        lifecycle_stage=r.lifecycle_stage, model_type=r.model_type,
        source_run_id=r.source_run_id, status_message=r.status_message) for r in rows}
    for part in chunks(list(models)):
        for table, attr in ((t.logged_model_tags, "tags"), (t.logged_model_params, "params")):
            for mid, key, value in conn.execute(select(table.c.model_id, table.c.key,
                                                       table.c.value)
                                                .where(table.c.model_id.in_(part))):
                getattr(models[mid], attr)[key] = value
        mm = t.logged_model_metrics.c
        for mid, key, value, ts, step, nan, run_id, dname, ddigest in conn.execute(
                select(mm.model_id, mm.key, mm.value, mm.timestamp, mm.step, mm.is_nan,
                       mm.run_id, mm.dataset_name, mm.dataset_digest)
                .where(mm.model_id.in_(part)).order_by(mm.id)):
            metric = metric_of(key, value, ts, step, nan)
            metric.model_id, metric.dataset_name, metric.dataset_digest = mid, dname, ddigest
            models[mid].metrics.append(metric)
    return [models[r.model_id] for r in rows]


class SqlLoggedModelsMixin:
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _model_row(self, conn: Connection, workspace: str, model_id: str,
                   allow_deleted: bool = False) -> Any:
        row = conn.execute(select(t.logged_models)
                           .where(t.logged_models.c.model_id == model_id)).first()
        if row is None or row.workspace != workspace or (
                not allow_deleted and row.lifecycle_stage != LifecycleStage.ACTIVE):
            raise NotFoundError(f"Logged model with ID '{model_id}' not found.")
        return row

    def create_logged_model(self, model: LoggedModel) -> LoggedModel:
        try:
            with self.engine.begin() as conn:
                exp = experiment_row(conn, model.workspace, model.experiment_id)
                conn.execute(insert(t.logged_models).values(
                    model_id=model.model_id, workspace=model.workspace,
                    experiment_id=exp.experiment_id, name=model.name,
                    artifact_location=model.artifact_location,
                    creation_timestamp_ms=model.creation_timestamp_ms,
                    last_updated_timestamp_ms=model.last_updated_timestamp_ms,
                    status=model.status, lifecycle_stage=model.lifecycle_stage,
                    model_type=model.model_type, source_run_id=model.source_run_id,
                    status_message=model.status_message))
                for table, values in ((t.logged_model_tags, model.tags),
                                      (t.logged_model_params, model.params)):
                    if values:
                        conn.execute(insert(table), [{"model_id": model.model_id, "key": k,
                                                      "value": v} for k, v in values.items()])
        except IntegrityError as exc:
            raise_duplicate(exc, f"Logged model {model.model_id!r}")
        return model

    def get_logged_model(self, workspace: str, model_id: str, *,
                         allow_deleted: bool = False) -> LoggedModel:
        with self.engine.connect() as conn:
            return _load_models(conn, [self._model_row(conn, workspace, model_id,
                                                       allow_deleted)])[0]

    def update_logged_model(self, workspace: str, model_id: str, *, status: str,
                            update_time: int) -> LoggedModel:
        with self.engine.begin() as conn:
            self._model_row(conn, workspace, model_id)
            conn.execute(update(t.logged_models).where(t.logged_models.c.model_id == model_id)
                         .values(status=status, last_updated_timestamp_ms=update_time))
            return _load_models(conn, [self._model_row(conn, workspace, model_id)])[0]

    def set_logged_model_tags(self, workspace: str, model_id: str, tags: dict[str, str],
                              update_time: int) -> None:
        with self.engine.begin() as conn:
            self._model_row(conn, workspace, model_id)
            if not tags:
                return
            ins = dialect_insert(self.dialect, t.logged_model_tags)
            conn.execute(ins.on_conflict_do_update(index_elements=["model_id", "key"],
                                                   set_={"value": ins.excluded.value}),
                         [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()])
            conn.execute(update(t.logged_models).where(t.logged_models.c.model_id == model_id)
                         .values(last_updated_timestamp_ms=update_time))

    def delete_logged_model_tag(self, workspace: str, model_id: str, key: str) -> None:
        c = t.logged_model_tags.c
        with self.engine.begin() as conn:
            self._model_row(conn, workspace, model_id)
            res = conn.execute(delete(t.logged_model_tags).where(c.model_id == model_id,
                                                                 c.key == key))
            if res.rowcount == 0:
                raise NotFoundError(f"No tag with key {key!r} on logged model {model_id}")

    def log_logged_model_params(self, workspace: str, model_id: str,
                                params: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            self._model_row(conn, workspace, model_id)
            if params:
                ins = dialect_insert(self.dialect, t.logged_model_params)
                conn.execute(ins.on_conflict_do_nothing(index_elements=["model_id", "key"]),
                             [{"model_id": model_id, "key": k, "value": v}
                              for k, v in params.items()])

    def delete_logged_model(self, workspace: str, model_id: str, update_time: int) -> None:
        with self.engine.begin() as conn:
            self._model_row(conn, workspace, model_id)
            conn.execute(update(t.logged_models).where(t.logged_models.c.model_id == model_id)
                         .values(lifecycle_stage=LifecycleStage.DELETED,
                                 last_updated_timestamp_ms=update_time))

    def search_logged_models(self, workspace: str, experiment_ids: Sequence[str], *,
                             clauses: Sequence[Clause], order_by: Sequence[OrderKey],
                             max_results: int, offset: int) -> Page[LoggedModel]:
        c = t.logged_models.c
        numbers = [n for n in (parse_int_id(e) for e in experiment_ids) if n is not None]
        attrs = _model_attributes()
        q = select(t.logged_models).where(c.workspace == workspace,
                                          c.experiment_id.in_(numbers),
                                          c.lifecycle_stage == LifecycleStage.ACTIVE)
        for clause in clauses:
            q = q.where(clause_condition(clause, c.model_id, attrs, MODEL_CHILDREN,
                                         self.dialect))
        order = order_expressions(order_by, c.model_id, attrs, MODEL_CHILDREN)
        q = q.order_by(*order, c.creation_timestamp_ms.desc(), c.model_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.offset(offset).limit(max_results + 1)).all()
            items = _load_models(conn, rows[:max_results])
        return Page(items, offset + max_results if len(rows) > max_results else None)
