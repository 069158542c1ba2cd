"""The hot half of the SQL tracking store: batched logging and metric history.

Everything a log-batch writes goes in one transaction with executemany inserts, and the latest
value per key is maintained with a single conditional upsert instead of a read-modify-write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union, cast

from sqlalchemy import Connection, Engine, delete, insert, select, update

from ember.errors import InvalidInputError, NotFoundError
from ember.store.sql import tables as t
from ember.store.sql.tracking_query import (
    FLOAT_MAX,
    NAN_SORT_VALUE,
    check_run,
    chunks,
    dialect_insert,
    driver_sql,
    stored_value,
)
from ember.entities.tracking import RUN_NAME_TAG, HistoryPoint, Metric


# (run_id, key, value, timestamp, step, is_nan), in the column order of the SQL below.
MetricRow = tuple[str, str, Union[float, None], int, int, bool]

_COLUMNS = 'run_id, "key", value, "timestamp", step, is_nan'
# SQLite takes the rows with executemany; PostgreSQL takes one array per column (one statement,
# about a third faster than psycopg's pipelined executemany at 1000 rows).
_SQLITE_ROWS = "VALUES (?, ?, ?, ?, ?, ?)"
_PG_ROWS = ("SELECT * FROM unnest(?::text[], ?::text[], ?::float8[], ?::int8[], ?::int8[], "
            "?::bool[])")
INSERT_METRICS_SQL = f"INSERT INTO metrics ({_COLUMNS}) {{rows}}"
# Keeps the greatest (step, timestamp, value); NaN (a NULL value) ranks lowest.
UPSERT_LATEST_SQL = (
    f"INSERT INTO latest_metrics ({_COLUMNS}) {{rows}} "
    'ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value, '
    '"timestamp" = excluded."timestamp", step = excluded.step, is_nan = excluded.is_nan '
    "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND "
    '(excluded."timestamp" > latest_metrics."timestamp" OR '
    '(excluded."timestamp" = latest_metrics."timestamp" AND '
    f"COALESCE(excluded.value, {NAN_SORT_VALUE!r}) > "
    f"COALESCE(latest_metrics.value, {NAN_SORT_VALUE!r}))))")
HISTORY_WHERE_SQL = ' WHERE run_id = ? AND "key" = ?'
HISTORY_AFTER_SQL = ' AND (step, "timestamp", id) > (?, ?, ?)'
HISTORY_ORDER_SQL = ' ORDER BY step, "timestamp", id'


class SqlMetricsMixin:
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def log_batch(self, workspace: str | None, run_id: str, metrics: Sequence[Metric],
                  params: dict[str, str], tags: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            check_run(conn, workspace, run_id)
            if params:
                self._insert_params(conn, run_id, params)
            if metrics:
                self._insert_metrics(conn, run_id, metrics)
            if tags:
                self._upsert_tags(conn, run_id, tags)

    def _insert_params(self, conn: Connection, run_id: str, params: dict[str, str]) -> None:
        c = t.params.c
        ins = dialect_insert(self.dialect, t.params)
        conn.execute(ins.on_conflict_do_nothing(index_elements=["run_id", "key"]),
                     [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()])
        stored = conn.execute(select(c.key, c.value).where(
            c.run_id == run_id, c.key.in_(list(params)))).all()
        changed = [(k, v) for k, v in stored if params[k] != v]
        if changed:
            key, old = changed[0]
            # Raising rolls the whole batch back, as MLflow does.
            raise InvalidInputError(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{old}' for run ID='{run_id}'. Attempted logging new value "
                f"'{params[key]}'.")

    def _upsert_tags(self, conn: Connection, run_id: str, tags: dict[str, str]) -> None:
        ins = dialect_insert(self.dialect, t.run_tags)
        conn.execute(ins.on_conflict_do_update(index_elements=["run_id", "key"],
                                               set_={"value": ins.excluded.value}),
                     [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])
        if RUN_NAME_TAG in tags:
            conn.execute(update(t.runs).where(t.runs.c.run_id == run_id)
                         .values(name=tags[RUN_NAME_TAG]))

    def _insert_metrics(self, conn: Connection, run_id: str, metrics: Sequence[Metric]) -> None:
        # Hand-written SQL with executemany on tuples: SQLAlchemy's per-row parameter
        # processing costs more than the inserts themselves at 1000 rows per call.
        rows: list[MetricRow] = []
        latest: dict[str, tuple[int, int, float, MetricRow]] = {}
        linked: list[tuple[Metric, MetricRow]] = []
        append = rows.append
        row: MetricRow
        for m in metrics:
            value = m.value
            if -FLOAT_MAX <= value <= FLOAT_MAX:
                row = (run_id, m.key, value, m.timestamp, m.step, False)
                rank_value = value
            else:
                stored, is_nan = stored_value(value)
                row = (run_id, m.key, stored, m.timestamp, m.step, is_nan)
                rank_value = NAN_SORT_VALUE if stored is None else stored
            if m.model_id:
                linked.append((m, row))
                continue
            append(row)
            best = latest.get(m.key)
            if best is None or (m.step, m.timestamp, rank_value) > best[:3]:
                latest[m.key] = (m.step, m.timestamp, rank_value, row)
        if linked:
            rows.extend(self._link_model_metrics(conn, run_id, linked, latest))
        if rows:
            self._bulk(conn, INSERT_METRICS_SQL, rows)
        if latest:
            self._bulk(conn, UPSERT_LATEST_SQL, [entry[3] for entry in latest.values()])

    def _bulk(self, conn: Connection, sql: str, rows: list[MetricRow]) -> None:
        if self.dialect == "postgresql":
            columns = tuple(list(column) for column in zip(*rows))
            conn.exec_driver_sql(driver_sql(self.dialect, sql.format(rows=_PG_ROWS)), columns)
        else:
            conn.exec_driver_sql(sql.format(rows=_SQLITE_ROWS), rows)

    def _link_model_metrics(self, conn: Connection, run_id: str,
                            linked: list[tuple[Metric, MetricRow]],
                            latest: dict[str, tuple[int, int, float, MetricRow]]
                            ) -> list[MetricRow]:
        """Store model-linked metrics for their models; return those new to the run history.

        MLflow's log_model re-logs a run's metrics with the model id attached; MLflow's own
        store dedupes them by primary key, so a repeat must not grow the history here either.
        """
        c = t.metrics.c
        keys = list({m.key for m, _ in linked})
        have = {(k, s, ts, v, bool(n)) for k, s, ts, v, n in conn.execute(
            select(c.key, c.step, c.timestamp, c.value, c.is_nan).where(
                c.run_id == run_id, c.key.in_(keys)))}
        conn.execute(insert(t.logged_model_metrics), [
            {"run_id": run_id, "key": row[1], "value": row[2], "timestamp": row[3],
             "step": row[4], "is_nan": row[5], "model_id": m.model_id,
             "dataset_name": m.dataset_name, "dataset_digest": m.dataset_digest}
            for m, row in linked])
        fresh = []
        for m, row in linked:
            ident = (row[1], row[4], row[3], row[2], row[5])
            if ident in have:
                continue
            have.add(ident)
            fresh.append(row)
            rank = (m.step, m.timestamp, NAN_SORT_VALUE if row[2] is None else row[2])
            best = latest.get(m.key)
            if best is None or rank > best[:3]:
                latest[m.key] = (*rank, row)
        return fresh

    def delete_run_tag(self, workspace: str | None, run_id: str, key: str) -> None:
        c = t.run_tags.c
        with self.engine.begin() as conn:
            check_run(conn, workspace, run_id)
            res = conn.execute(delete(t.run_tags).where(c.run_id == run_id, c.key == key))
            if res.rowcount == 0:
                raise NotFoundError(f"No tag with name: {key} in run with id {run_id}")

    def get_metric_history(self, workspace: str | None, run_id: str, key: str, *,
                           after: tuple[int, int, int] | None, limit: int | None
                           ) -> tuple[list[HistoryPoint], tuple[int, int, int] | None]:
        where = HISTORY_WHERE_SQL
        args: tuple[Any, ...] = (run_id, key)
        if after is not None:
            where += HISTORY_AFTER_SQL
            args += after
        sql = f"SELECT step, \"timestamp\", value FROM metrics{where}{HISTORY_ORDER_SQL}"
        if limit is not None:
            sql += f" LIMIT {int(limit) + 1}"
        with self.engine.connect() as conn:
            check_run(conn, workspace, run_id, active=False)
            # The raw DB-API cursor: wrapping 100k rows in SQLAlchemy Rows triples the cost.
            cursor = conn.connection.cursor()
            try:
                cursor.execute(driver_sql(self.dialect, sql), args)
                rows = cast(list[HistoryPoint], cursor.fetchall())
                if limit is None or len(rows) <= limit:
                    return rows, None
                # Only a further page needs the cursor; its tie-breaker is the row id.
                cursor.execute(driver_sql(self.dialect, f"SELECT id FROM metrics{where}"
                                          f"{HISTORY_ORDER_SQL} LIMIT 1 OFFSET {limit - 1}"),
                               args)
                last_id = int(cursor.fetchone()[0])  # type: ignore[index]
            finally:
                cursor.close()
        last = rows[limit - 1]
        return rows[:limit], (last[0], last[1], last_id)

    def get_metric_steps(self, workspace: str, run_ids: Sequence[str], key: str,
                         start_step: int | None, end_step: int | None) -> list[int]:
        c = t.metrics.c
        with self.engine.connect() as conn:
            for run_id in run_ids:
                check_run(conn, workspace, run_id, active=False)
            q = select(c.step).distinct().where(c.run_id.in_(list(run_ids)), c.key == key)
            if start_step is not None:
                q = q.where(c.step >= start_step)
            if end_step is not None:
                q = q.where(c.step <= end_step)
            return list(conn.execute(q.order_by(c.step)).scalars())

    def get_metrics_at_steps(self, run_ids: Sequence[str], key: str, steps: Sequence[int]
                             ) -> list[tuple[str, HistoryPoint]]:
        c = t.metrics.c
        out: list[tuple[str, HistoryPoint]] = []
        with self.engine.connect() as conn:
            for part in chunks(list(steps)):
                q = select(c.run_id, c.step, c.timestamp, c.value).where(
                    c.run_id.in_(list(run_ids)), c.key == key, c.step.in_(list(part)))
                out.extend((r[0], (r[1], r[2], r[3])) for r in conn.execute(q))
        out.sort(key=lambda item: (item[0], item[1][0], item[1][1]))
        return out
