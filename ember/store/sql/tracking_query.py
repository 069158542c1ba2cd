"""SQL helpers of the tracking store: dialect upserts, search-clause translation, row loading."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, bindparam, exists, literal, select
from sqlalchemy.sql.elements import ColumnClause

from ember.errors import InvalidInputError, NotFoundError
from ember.store.sql import tables as t
from ember.entities.tracking import (
    Clause,
    DatasetInput,
    Experiment,
    Metric,
    ModelOutput,
    OrderKey,
    Run,
    RunInfo,
)

# MLflow stores +-inf metric values as the largest finite doubles; NaN sorts below everything.
FLOAT_MAX = sys.float_info.max
NAN_SORT_VALUE = -FLOAT_MAX
# Bound parameters per IN list, below SQLite's and PostgreSQL's limits.
IN_CHUNK = 5000


def dialect_insert(dialect: str, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_*`` on SQLite and PostgreSQL."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def driver_sql(dialect: str, sql: str) -> str:
    """Hand-written SQL uses ``?`` placeholders; psycopg wants ``%s``."""
    return sql.replace("?", "%s") if dialect == "postgresql" else sql


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def stored_value(value: float) -> tuple[float | None, bool]:
    """(value column, is_nan) for a metric value."""
    if value != value:
        return None, True
    if value > FLOAT_MAX:
        return FLOAT_MAX, False
    if value < -FLOAT_MAX:
        return -FLOAT_MAX, False
    return value, False


def _glob_pattern(like: str) -> str:
    out = []
    for ch in like:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def compare(col: Any, op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    if op == "=":
        return col == value  # type: ignore[no-any-return]
    if op == "!=":
        return col != value  # type: ignore[no-any-return]
    if op == ">":
        return col > value  # type: ignore[no-any-return]
    if op == ">=":
        return col >= value  # type: ignore[no-any-return]
    if op == "<":
        return col < value  # type: ignore[no-any-return]
    if op == "<=":
        return col <= value  # type: ignore[no-any-return]
    if op == "LIKE":
        # MLflow's LIKE is case-sensitive; SQLite's LIKE is not, its GLOB is.
        if dialect == "sqlite":
            return col.op("GLOB")(_glob_pattern(value))  # type: ignore[no-any-return]
        return col.like(value)  # type: ignore[no-any-return]
    if op == "ILIKE":
        return col.ilike(value)  # type: ignore[no-any-return]
    if op == "IN":
        return col.in_(value)  # type: ignore[no-any-return]
    if op == "NOT_IN":
        return col.not_in(value)  # type: ignore[no-any-return]
    raise InvalidInputError(f"comparison {op!r} is not supported here")


# entity -> (child table, column that points at the parent)
RUN_CHILDREN: dict[str, tuple[Table, str]] = {
    "metric": (t.latest_metrics, "run_id"),
    "param": (t.params, "run_id"),
    "tag": (t.run_tags, "run_id"),
}
EXPERIMENT_CHILDREN: dict[str, tuple[Table, str]] = {"tag": (t.experiment_tags, "experiment_id")}
MODEL_CHILDREN: dict[str, tuple[Table, str]] = {
    "tag": (t.logged_model_tags, "model_id"),
    "param": (t.logged_model_params, "model_id"),
}


def clause_condition(clause: Clause, parent: ColumnClause[Any] | Any,
                     attributes: dict[str, Any], children: dict[str, tuple[Table, str]],
                     dialect: str) -> ColumnElement[bool]:
    """SQL for one clause; child entities become EXISTS sub-queries on the parent's id."""
    if clause.entity == "attribute":
        col = attributes.get(clause.key)
        if col is None:
            raise InvalidInputError(f"attribute {clause.key!r} cannot be searched here")
        return compare(col, clause.op, clause.value, dialect)
    if clause.entity not in children:
        raise InvalidInputError(f"{clause.entity} filters are not supported here")
    table, fk = children[clause.entity]
    sub = select(literal(1)).where(table.c[fk] == parent, table.c.key == clause.key)
    if clause.op == "IS_NULL":
        return ~exists(sub)
    if clause.op == "IS_NOT_NULL":
        return exists(sub)
    return exists(sub.where(compare(table.c.value, clause.op, clause.value, dialect)))


def order_expressions(keys: Sequence[OrderKey], parent: Any, attributes: dict[str, Any],
                      children: dict[str, tuple[Table, str]]) -> list[Any]:
    out = []
    for key in keys:
        if key.entity == "attribute":
            expr = attributes.get(key.key)
            if expr is None:
                raise InvalidInputError(f"cannot order by attribute {key.key!r}")
        elif key.entity in children:
            table, fk = children[key.entity]
            expr = select(table.c.value).where(table.c[fk] == parent,
                                               table.c.key == key.key).scalar_subquery()
        else:
            raise InvalidInputError(f"cannot order by {key.entity} values here")
        out.append((expr.asc() if key.ascending else expr.desc()).nulls_last())
    return out


def run_attributes() -> dict[str, Any]:
    c = t.runs.c
    return {"run_id": c.run_id, "run_name": c.name, "status": c.status, "user_id": c.user_id,
            "artifact_uri": c.artifact_uri, "lifecycle_stage": c.lifecycle_stage,
            "start_time": c.start_time, "end_time": c.end_time, "experiment_id": c.experiment_id}


# --- rows to entities ---

def run_info(row: Any) -> RunInfo:
    return RunInfo(run_id=row.run_id, experiment_id=str(row.experiment_id),
                   workspace=row.workspace, run_name=row.name, user_id=row.user_id,
                   status=row.status, start_time=row.start_time, end_time=row.end_time,
                   lifecycle_stage=row.lifecycle_stage, artifact_uri=row.artifact_uri)


def metric_of(key: str, value: float | None, timestamp: int, step: int, is_nan: bool) -> Metric:
    return Metric(key=key, value=float("nan") if is_nan or value is None else value,
                  timestamp=timestamp, step=step)


def load_runs(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Runs for ``runs`` rows, with params, tags, latest metrics, inputs and outputs."""
    runs = {r.run_id: Run(info=run_info(r)) for r in rows}
    ids = list(runs)
    for part in chunks(ids):
        for rid, key, value in conn.execute(select(t.params.c.run_id, t.params.c.key,
                                                   t.params.c.value)
                                            .where(t.params.c.run_id.in_(part))):
            runs[rid].params[key] = value
        for rid, key, value in conn.execute(select(t.run_tags.c.run_id, t.run_tags.c.key,
                                                   t.run_tags.c.value)
                                            .where(t.run_tags.c.run_id.in_(part))):
            runs[rid].tags[key] = value
        lm = t.latest_metrics.c
        for rid, key, value, ts, step, nan in conn.execute(
                select(lm.run_id, lm.key, lm.value, lm.timestamp, lm.step, lm.is_nan)
                .where(lm.run_id.in_(part)).order_by(lm.run_id, lm.key)):
            runs[rid].metrics.append(metric_of(key, value, ts, step, nan))
        ri = t.run_inputs.c
        for rid, kind, ref, payload in conn.execute(
                select(ri.run_id, ri.kind, ri.ref, ri.payload).where(ri.run_id.in_(part))
                .order_by(ri.id)):
            if kind == "dataset":
                runs[rid].dataset_inputs.append(DatasetInput(**payload))
            else:
                runs[rid].model_inputs.append(ref)
        ro = t.run_outputs.c
        for rid, model_id, step in conn.execute(
                select(ro.run_id, ro.model_id, ro.step).where(ro.run_id.in_(part))):
            runs[rid].model_outputs.append(ModelOutput(model_id, step))
    return [runs[r.run_id] for r in rows]


def load_experiments(conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
    exps = {r.experiment_id: Experiment(
        experiment_id=str(r.experiment_id), workspace=r.workspace, name=r.name,
        artifact_location=r.artifact_location, lifecycle_stage=r.lifecycle_stage,
        creation_time=r.creation_time, last_update_time=r.last_update_time) for r in rows}
    c = t.experiment_tags.c
    for part in chunks(list(exps)):
        for eid, key, value in conn.execute(select(c.experiment_id, c.key, c.value)
                                            .where(c.experiment_id.in_(part))):
            exps[eid].tags[key] = value
    return [exps[r.experiment_id] for r in rows]


def parse_int_id(value: str) -> int | None:
    """An experiment id as stored, or None when it cannot be one."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**31 else None


# Built once: check_run is on every logging call, and building the statement cost more than
# running it (SQLAlchemy memoises the compiled form of a statement object it sees again).
_RUN_CHECK = select(t.runs.c.workspace, t.runs.c.experiment_id, t.runs.c.lifecycle_stage,
                    t.runs.c.artifact_uri).where(t.runs.c.run_id == bindparam("run_id"))


def check_run(conn: Connection, workspace: str | None, run_id: str, *,
              active: bool = True) -> Any:
    """The run's row (workspace, experiment_id, lifecycle_stage, artifact_uri).

    Raises NotFoundError when missing or in another workspace, and InvalidInputError when
    ``active`` is asked for and the run is deleted.
    """
    row = conn.execute(_RUN_CHECK, {"run_id": run_id}).first()
    if row is None or (workspace is not None and row.workspace != workspace):
        raise NotFoundError(f"Run with id={run_id} not found")
    if active and row.lifecycle_stage != "active":
        raise InvalidInputError(
            f"The run {run_id} must be in the 'active' state. "
            f"Current state is {row.lifecycle_stage}.")
    return row


def experiment_row(conn: Connection, workspace: str, experiment_id: str) -> Any:
    """The experiment's row; NotFoundError when missing or in another workspace."""
    number = parse_int_id(experiment_id)
    row = None
    if number is not None:
        row = conn.execute(select(t.experiments)
                           .where(t.experiments.c.experiment_id == number)).first()
    if row is None or row.workspace != workspace:
        raise NotFoundError(f"No Experiment with id={experiment_id} exists")
    return row
