"""SQL tracking store (SQLite and PostgreSQL): experiments and runs here; metrics and logged
models in the mixins of ``tracking_metrics`` and ``tracking_models``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, is_duplicate, raise_duplicate
from ember.store.sql.tracking_metrics import SqlMetricsMixin
from ember.store.sql.tracking_models import SqlLoggedModelsMixin
from ember.store.sql.tracking_query import (
    EXPERIMENT_CHILDREN,
    RUN_CHILDREN,
    check_run,
    clause_condition,
    dialect_insert,
    experiment_row,
    load_experiments,
    load_runs,
    order_expressions,
    parse_int_id,
    run_attributes,
    run_info,
)
from ember.store.tracking import TrackingStore
from ember.entities.tracking import (
    RUN_NAME_TAG,
    Clause,
    DatasetInput,
    Experiment,
    LifecycleStage,
    ModelOutput,
    OrderKey,
    Page,
    Run,
    RunInfo,
    experiment_artifact_location,
)


def _id_clause(clause: Clause) -> Clause:
    """Experiment ids are integers in SQL and strings on the wire."""
    if clause.entity != "attribute" or clause.key != "experiment_id":
        return clause
    value: Any = clause.value
    if isinstance(value, list):
        value = [n for n in (parse_int_id(v) for v in value) if n is not None]
    elif isinstance(value, str):
        value = parse_int_id(value)
        if value is None:
            value = -1
    return Clause(clause.entity, clause.key, clause.op, value)


class SqlTrackingStore(SqlMetricsMixin, SqlLoggedModelsMixin, SqlRepo, TrackingStore):
    # --- experiments ---

    def _experiment_row(self, conn: Connection, workspace: str, experiment_id: str) -> Any:
        return experiment_row(conn, workspace, experiment_id)

    def create_experiment(self, workspace: str, name: str, *, artifact_location: str | None,
                          tags: dict[str, str], creation_time: int) -> str:
        c = t.experiments.c
        try:
            with self.engine.begin() as conn:
                res = conn.execute(insert(t.experiments).values(
                    workspace=workspace, name=name, artifact_location=artifact_location or "",
                    lifecycle_stage=LifecycleStage.ACTIVE, creation_time=creation_time,
                    last_update_time=creation_time))
                number = res.inserted_primary_key[0]  # type: ignore[index]
                if artifact_location is None:
                    conn.execute(update(t.experiments).where(c.experiment_id == number).values(
                        artifact_location=experiment_artifact_location(str(number))))
                if tags:
                    conn.execute(insert(t.experiment_tags), [
                        {"experiment_id": number, "key": k, "value": v} for k, v in tags.items()])
        except IntegrityError as exc:
            if not is_duplicate(exc):
                raise
            with self.engine.connect() as conn:
                stage = conn.execute(select(c.lifecycle_stage).where(
                    c.workspace == workspace, c.name == name)).scalar()
            hint = " in deleted state; restore it or pick another name" if stage == \
                LifecycleStage.DELETED else ""
            raise AlreadyExistsError(f"Experiment(name={name}) already exists{hint}") from exc
        return str(number)

    def get_experiment(self, workspace: str, experiment_id: str) -> Experiment:
        with self.engine.connect() as conn:
            return load_experiments(conn, [self._experiment_row(conn, workspace,
                                                                 experiment_id)])[0]

    def get_experiment_by_name(self, workspace: str, name: str) -> Experiment:
        c = t.experiments.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.experiments).where(c.workspace == workspace,
                                                           c.name == name)).first()
            if row is None:
                raise NotFoundError(f"Could not find experiment with name '{name}'")
            return load_experiments(conn, [row])[0]

    def search_experiments(self, workspace: str, *, stages: Sequence[str],
                           clauses: Sequence[Clause], order_by: Sequence[OrderKey],
                           max_results: int, offset: int) -> Page[Experiment]:
        c = t.experiments.c
        attrs = {"name": c.name, "experiment_id": c.experiment_id,
                 "creation_time": c.creation_time, "last_update_time": c.last_update_time}
        q = select(t.experiments).where(c.workspace == workspace,
                                        c.lifecycle_stage.in_(list(stages)))
        for clause in clauses:
            q = q.where(clause_condition(_id_clause(clause), c.experiment_id, attrs,
                                         EXPERIMENT_CHILDREN, self.dialect))
        order = order_expressions(order_by, c.experiment_id, attrs, EXPERIMENT_CHILDREN)
        q = q.order_by(*order, c.last_update_time.desc(), c.experiment_id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(q.offset(offset).limit(max_results + 1)).all()
            items = load_experiments(conn, rows[:max_results])
        return Page(items, offset + max_results if len(rows) > max_results else None)

    def rename_experiment(self, workspace: str, experiment_id: str, new_name: str,
                          update_time: int) -> None:
        try:
            with self.engine.begin() as conn:
                row = self._experiment_row(conn, workspace, experiment_id)
                conn.execute(update(t.experiments)
                             .where(t.experiments.c.experiment_id == row.experiment_id)
                             .values(name=new_name, last_update_time=update_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"Experiment(name={new_name})")

    def set_experiment_stage(self, workspace: str, experiment_id: str, stage: str,
                             update_time: int) -> None:
        with self.engine.begin() as conn:
            row = self._experiment_row(conn, workspace, experiment_id)
            conn.execute(update(t.experiments)
                         .where(t.experiments.c.experiment_id == row.experiment_id)
                         .values(lifecycle_stage=stage, last_update_time=update_time))
            deleted_time = update_time if stage == LifecycleStage.DELETED else None
            conn.execute(update(t.runs).where(t.runs.c.experiment_id == row.experiment_id)
                         .values(lifecycle_stage=stage, deleted_time=deleted_time))

    def set_experiment_tag(self, workspace: str, experiment_id: str, key: str,
                           value: str) -> None:
        with self.engine.begin() as conn:
            row = self._experiment_row(conn, workspace, experiment_id)
            ins = dialect_insert(self.dialect, t.experiment_tags)
            conn.execute(ins.values(experiment_id=row.experiment_id, key=key, value=value)
                         .on_conflict_do_update(index_elements=["experiment_id", "key"],
                                                set_={"value": ins.excluded.value}))

    def delete_experiment_tag(self, workspace: str, experiment_id: str, key: str) -> None:
        c = t.experiment_tags.c
        with self.engine.begin() as conn:
            row = self._experiment_row(conn, workspace, experiment_id)
            res = conn.execute(delete(t.experiment_tags).where(
                c.experiment_id == row.experiment_id, c.key == key))
            if res.rowcount == 0:
                raise NotFoundError(f"No tag with name: {key} in experiment {experiment_id}")

    # --- runs ---

    def create_run(self, info: RunInfo, tags: dict[str, str]) -> Run:
        try:
            with self.engine.begin() as conn:
                exp = self._experiment_row(conn, info.workspace, info.experiment_id)
                if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                    raise InvalidInputError(
                        f"Could not create run under non-active experiment with ID "
                        f"{info.experiment_id}.")
                conn.execute(insert(t.runs).values(
                    run_id=info.run_id, experiment_id=exp.experiment_id,
                    workspace=info.workspace, name=info.run_name, user_id=info.user_id,
                    status=info.status, start_time=info.start_time, end_time=info.end_time,
                    lifecycle_stage=info.lifecycle_stage, artifact_uri=info.artifact_uri))
                if tags:
                    conn.execute(insert(t.run_tags), [
                        {"run_id": info.run_id, "key": k, "value": v} for k, v in tags.items()])
        except IntegrityError as exc:
            raise_duplicate(exc, f"Run with id={info.run_id}")
        return Run(info=info, tags=dict(tags))

    def get_run(self, workspace: str | None, run_id: str) -> Run:
        with self.engine.connect() as conn:
            return load_runs(conn, [self._run_row(conn, workspace, run_id)])[0]

    def get_run_info(self, workspace: str | None, run_id: str) -> RunInfo:
        with self.engine.connect() as conn:
            return run_info(self._run_row(conn, workspace, run_id))

    def _run_row(self, conn: Connection, workspace: str | None, run_id: str) -> Any:
        row = conn.execute(select(t.runs).where(t.runs.c.run_id == run_id)).first()
        if row is None or (workspace is not None and row.workspace != workspace):
            raise NotFoundError(f"Run with id={run_id} not found")
        return row

    def update_run(self, workspace: str | None, run_id: str, *, status: str | None = None,
                   end_time: int | None = None, run_name: str | None = None) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if end_time is not None:
            values["end_time"] = end_time
        if run_name:
            values["name"] = run_name
        with self.engine.begin() as conn:
            check_run(conn, workspace, run_id, active=False)
            if values:
                conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(**values))
            if run_name:
                self._upsert_tags(conn, run_id, {RUN_NAME_TAG: run_name})
            return run_info(self._run_row(conn, workspace, run_id))

    def set_run_stage(self, workspace: str | None, run_id: str, stage: str,
                      deleted_time: int | None) -> None:
        with self.engine.begin() as conn:
            check_run(conn, workspace, run_id, active=False)
            conn.execute(update(t.runs).where(t.runs.c.run_id == run_id)
                         .values(lifecycle_stage=stage, deleted_time=deleted_time))

    def search_runs(self, workspace: str, experiment_ids: Sequence[str], *,
                    stages: Sequence[str], clauses: Sequence[Clause],
                    order_by: Sequence[OrderKey], max_results: int, offset: int) -> Page[Run]:
        c = t.runs.c
        numbers = [n for n in (parse_int_id(e) for e in experiment_ids) if n is not None]
        attrs = run_attributes()
        q = select(t.runs).where(c.workspace == workspace, c.experiment_id.in_(numbers),
                                 c.lifecycle_stage.in_(list(stages)))
        for clause in clauses:
            q = q.where(clause_condition(_id_clause(clause), c.run_id, attrs, RUN_CHILDREN,
                                         self.dialect))
        order = order_expressions(order_by, c.run_id, attrs, RUN_CHILDREN)
        q = q.order_by(*order, c.start_time.desc(), c.run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.offset(offset).limit(max_results + 1)).all()
            items = load_runs(conn, rows[:max_results])
        return Page(items, offset + max_results if len(rows) > max_results else None)

    # --- inputs and outputs ---

    def log_inputs(self, workspace: str | None, run_id: str, datasets: Sequence[DatasetInput],
                   model_ids: Sequence[str]) -> None:
        rows = [{"run_id": run_id, "kind": "dataset", "ref": f"{d.name}\x1f{d.digest}",
                 "payload": {"name": d.name, "digest": d.digest, "source_type": d.source_type,
                             "source": d.source, "schema": d.schema, "profile": d.profile,
                             "tags": d.tags}} for d in datasets]
        rows += [{"run_id": run_id, "kind": "model", "ref": m, "payload": {}} for m in model_ids]
        with self.engine.begin() as conn:
            check_run(conn, workspace, run_id)
            if rows:
                ins = dialect_insert(self.dialect, t.run_inputs)
                conn.execute(ins.on_conflict_do_nothing(
                    index_elements=["run_id", "kind", "ref"]), rows)

    def log_outputs(self, workspace: str | None, run_id: str,
                    models: Sequence[ModelOutput]) -> None:
        with self.engine.begin() as conn:
            check_run(conn, workspace, run_id)
            if models:
                ins = dialect_insert(self.dialect, t.run_outputs)
                conn.execute(ins.on_conflict_do_update(
                    index_elements=["run_id", "model_id"], set_={"step": ins.excluded.step}),
                    [{"run_id": run_id, "model_id": m.model_id, "step": m.step} for m in models])
