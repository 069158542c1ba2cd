"""SQL trace store (SQLite and PostgreSQL).

Writes take the trace's row lock before reading anything back: the first statement of a write
is an INSERT (which takes SQLite's write lock at once, so no deferred read-then-write upgrade
can fail), then PostgreSQL locks the trace rows with ``FOR UPDATE`` in trace-id order. The
summary is then recomputed from every span stored, which makes concurrent and out-of-order
batches of one trace converge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from ember.entities.traces import TraceInfo, TraceSpan, TraceState
from ember.entities.tracking import Clause, OrderKey, Page
from ember.errors import NotFoundError
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo
from ember.store.sql.tracking_query import (
    chunks,
    clause_condition,
    dialect_insert,
    order_expressions,
)
from ember.store.traces import Summarize, TraceStore

_T = t.traces.c
TOKEN_USAGE_ATTRIBUTE = "mlflow.chat.tokenUsage"
# The state of a trace row this very write created (never seen outside its transaction).
_NEW = "EMBER_NEW"
_CHILDREN = {"tag": (t.trace_tags, "trace_key"), "metadata": (t.trace_metadata, "trace_key")}


def _not_found(trace_id: str) -> NotFoundError:
    return NotFoundError(f"Trace with ID '{trace_id}' not found.")


def _attributes() -> dict[str, Any]:
    return {"trace_id": _T.trace_id, "request_time": _T.request_time,
            "execution_duration": _T.execution_duration,
            "end_time": _T.request_time + _T.execution_duration, "state": _T.state,
            "client_request_id": _T.client_request_id, "experiment_id": _T.experiment_id}


def _span_row(key: int, s: TraceSpan) -> dict[str, Any]:
    return {"trace_key": key, "span_id": s.span_id, "parent_span_id": s.parent_span_id,
            "name": s.name, "span_type": s.span_type, "status": s.status,
            "start_time_ns": s.start_time_ns, "end_time_ns": s.end_time_ns,
            "token_usage": s.attributes.get(TOKEN_USAGE_ATTRIBUTE),
            "content": {"attributes": s.attributes, "events": s.events,
                        "status_message": s.status_message, "kind": s.kind}}


def _span(trace_id: str, row: Any, content: dict[str, Any] | None = None) -> TraceSpan:
    content = content if content is not None else (row.content or {})
    return TraceSpan(trace_id=trace_id, span_id=row.span_id, parent_span_id=row.parent_span_id,
                     name=row.name, start_time_ns=row.start_time_ns, end_time_ns=row.end_time_ns,
                     span_type=row.span_type, status=row.status,
                     status_message=content.get("status_message", ""),
                     kind=content.get("kind", 0), attributes=dict(content.get("attributes", {})),
                     events=list(content.get("events", [])))


class SqlTraceStore(SqlRepo, TraceStore):
    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # --- writes ---

    def _lock(self, conn: Connection, workspace: str, trace_id: str, experiment_id: str,
              request_time: int) -> int:
        """The trace's key, creating its row when missing, with the row locked."""
        conn.execute(dialect_insert(self.dialect, t.traces).values(
            workspace=workspace, trace_id=trace_id, experiment_id=int(experiment_id),
            request_time=request_time, state=TraceState.IN_PROGRESS,
        ).on_conflict_do_nothing(index_elements=["workspace", "trace_id"]))
        key = conn.execute(select(_T.trace_key).where(
            _T.workspace == workspace, _T.trace_id == trace_id).with_for_update()).scalar_one()
        return int(key)

    def _write(self, conn: Connection, key: int, info: TraceInfo) -> None:
        conn.execute(update(t.traces).where(_T.trace_key == key).values(
            request_time=info.request_time, execution_duration=info.execution_duration,
            state=info.state, request_preview=info.request_preview,
            response_preview=info.response_preview, client_request_id=info.client_request_id))
        for table, values in ((t.trace_tags, info.tags), (t.trace_metadata, info.metadata)):
            conn.execute(delete(table).where(table.c.trace_key == key))
            if values:
                conn.execute(table.insert(), [{"trace_key": key, "key": k, "value": v}
                                              for k, v in values.items()])

    def _summary_spans(self, conn: Connection, key: int, trace_id: str) -> list[TraceSpan]:
        """Every span of a trace as ``summarize`` sees it: a root span whole, the others with
        their token usage as their only attribute (a trace re-summarised as each of its N
        spans arrives would otherwise read N whole spans N times)."""
        s = t.trace_spans.c
        light = [s.span_id, s.parent_span_id, s.name, s.span_type, s.status, s.start_time_ns,
                 s.end_time_ns, s.token_usage]
        spans = [_span(trace_id, row) for row in conn.execute(
            select(*light, s.content).where(s.trace_key == key, s.parent_span_id.is_(None)))]
        for row in conn.execute(select(*light).where(s.trace_key == key,
                                                     s.parent_span_id.is_not(None))):
            usage = {TOKEN_USAGE_ATTRIBUTE: row.token_usage} if row.token_usage is not None \
                else {}
            spans.append(_span(trace_id, row, {"attributes": usage}))
        spans.sort(key=lambda x: (x.start_time_ns, x.span_id))
        return spans

    def _resummarize(self, conn: Connection, key: int, info: TraceInfo,
                     summarize: Summarize) -> TraceInfo:
        new = summarize(info, self._summary_spans(conn, key, info.trace_id))
        self._write(conn, key, new)
        return new

    def log_spans(self, workspace: str, experiment_id: str, spans: Sequence[TraceSpan],
                  summarize: Summarize) -> list[TraceInfo]:
        by_trace: dict[str, list[TraceSpan]] = {}
        for s in spans:
            by_trace.setdefault(s.trace_id, []).append(s)
        out: dict[str, TraceInfo] = {}
        with self.engine.begin() as conn:
            fresh = self._new_traces(conn, workspace, experiment_id, by_trace)
            out.update(self._log_new(conn, workspace, experiment_id,
                                     {k: by_trace[k] for k in fresh}, fresh, summarize))
            for trace_id in sorted(set(by_trace) - set(fresh)):   # one lock order
                batch = by_trace[trace_id]
                key = self._lock(conn, workspace, trace_id, experiment_id,
                                 min(s.start_time_ns for s in batch) // 1_000_000)
                ins = dialect_insert(self.dialect, t.trace_spans)
                rows = [_span_row(key, s) for s in batch]
                conn.execute(ins.on_conflict_do_update(
                    index_elements=["trace_key", "span_id"],
                    set_={c: ins.excluded[c] for c in rows[0] if c not in
                          ("trace_key", "span_id")}), rows)
            for trace_id in sorted(set(by_trace) - set(fresh)):
                key, info = self._info_for_update(conn, workspace, trace_id)
                out[trace_id] = self._resummarize(conn, key, info, summarize)
        return [out[trace_id] for trace_id in by_trace]

    def _new_traces(self, conn: Connection, workspace: str, experiment_id: str,
                    by_trace: dict[str, list[TraceSpan]]) -> dict[str, int]:
        """Create the rows of traces not seen before, in one statement (an INSERT first: it
        takes SQLite's write lock at once), and return those this call created — trace id to
        key: no span, tag or summary yet, so their batch is all they have. A batch run of
        1,000 lines sends 1,000 such traces in one request."""
        ids = sorted(by_trace)
        conn.execute(dialect_insert(self.dialect, t.traces).on_conflict_do_nothing(
            index_elements=["workspace", "trace_id"]), [
            {"workspace": workspace, "trace_id": i, "experiment_id": int(experiment_id),
             "request_time": min(s.start_time_ns for s in by_trace[i]) // 1_000_000,
             "state": _NEW} for i in ids])
        keys: dict[str, int] = {}
        for part in chunks(ids):
            for row in conn.execute(select(_T.trace_id, _T.trace_key).where(
                    _T.workspace == workspace, _T.trace_id.in_(part), _T.state == _NEW)
                    .with_for_update()):
                keys[row.trace_id] = int(row.trace_key)
        return keys

    def _log_new(self, conn: Connection, workspace: str, experiment_id: str,
                 by_trace: dict[str, list[TraceSpan]], keys: dict[str, int],
                 summarize: Summarize) -> dict[str, TraceInfo]:
        if not keys:
            return {}
        spans = [_span_row(keys[i], s) for i in sorted(by_trace) for s in by_trace[i]]
        conn.execute(t.trace_spans.insert(), spans)
        infos: dict[str, TraceInfo] = {}
        updates, tags, metadata = [], [], []
        for trace_id in sorted(by_trace):
            batch = sorted(by_trace[trace_id], key=lambda x: (x.start_time_ns, x.span_id))
            info = summarize(TraceInfo(trace_id=trace_id, workspace=workspace,
                                       experiment_id=experiment_id,
                                       state=TraceState.IN_PROGRESS), batch)
            infos[trace_id] = info
            key = keys[trace_id]
            updates.append({"k": key, "b_time": info.request_time,
                            "b_duration": info.execution_duration, "b_state": info.state,
                            "b_request": info.request_preview,
                            "b_response": info.response_preview,
                            "b_client": info.client_request_id})
            tags += [{"trace_key": key, "key": k, "value": v} for k, v in info.tags.items()]
            metadata += [{"trace_key": key, "key": k, "value": v}
                         for k, v in info.metadata.items()]
        conn.execute(update(t.traces).where(_T.trace_key == bindparam("k")).values(
            request_time=bindparam("b_time"), execution_duration=bindparam("b_duration"),
            state=bindparam("b_state"), request_preview=bindparam("b_request"),
            response_preview=bindparam("b_response"), client_request_id=bindparam("b_client")),
            updates)
        for table, rows in ((t.trace_tags, tags), (t.trace_metadata, metadata)):
            if rows:
                conn.execute(table.insert(), rows)
        return infos

    def _info_for_update(self, conn: Connection, workspace: str,
                         trace_id: str) -> tuple[int, TraceInfo]:
        row = conn.execute(select(t.traces).where(_T.workspace == workspace,
                                                  _T.trace_id == trace_id)).first()
        if row is None:
            raise _not_found(trace_id)
        return int(row.trace_key), self._infos(conn, [row])[0]

    def start_trace(self, info: TraceInfo, summarize: Summarize) -> TraceInfo:
        with self.engine.begin() as conn:
            key = self._lock(conn, info.workspace, info.trace_id, info.experiment_id,
                             info.request_time)
            _, stored = self._info_for_update(conn, info.workspace, info.trace_id)
            merged = TraceInfo(
                trace_id=info.trace_id, workspace=info.workspace,
                experiment_id=stored.experiment_id, request_time=info.request_time,
                execution_duration=info.execution_duration, state=info.state,
                request_preview=info.request_preview, response_preview=info.response_preview,
                client_request_id=info.client_request_id,
                metadata={**stored.metadata, **info.metadata}, tags={**stored.tags, **info.tags})
            return self._resummarize(conn, key, merged, summarize)

    # --- reads ---

    def _infos(self, conn: Connection, rows: Sequence[Any]) -> list[TraceInfo]:
        infos = {r.trace_key: TraceInfo(
            trace_id=r.trace_id, workspace=r.workspace, experiment_id=str(r.experiment_id),
            request_time=r.request_time, execution_duration=r.execution_duration, state=r.state,
            request_preview=r.request_preview, response_preview=r.response_preview,
            client_request_id=r.client_request_id) for r in rows}
        for part in chunks(list(infos)):
            for table, attr in ((t.trace_tags, "tags"), (t.trace_metadata, "metadata")):
                for key, k, v in conn.execute(select(table.c.trace_key, table.c.key,
                                                     table.c.value)
                                              .where(table.c.trace_key.in_(part))):
                    getattr(infos[key], attr)[k] = v
        return [infos[r.trace_key] for r in rows]

    def _spans(self, conn: Connection, keys: dict[int, str]) -> dict[str, list[TraceSpan]]:
        s = t.trace_spans.c
        out: dict[str, list[TraceSpan]] = {}
        for part in chunks(list(keys)):
            for row in conn.execute(select(t.trace_spans).where(s.trace_key.in_(part))
                                    .order_by(s.trace_key, s.start_time_ns, s.span_id)):
                trace_id = keys[row.trace_key]
                out.setdefault(trace_id, []).append(_span(trace_id, row))
        return out

    def _rows(self, conn: Connection, workspace: str, trace_ids: Sequence[str]) -> list[Any]:
        rows: list[Any] = []
        for part in chunks(list(dict.fromkeys(trace_ids))):
            rows += conn.execute(select(t.traces).where(_T.workspace == workspace,
                                                        _T.trace_id.in_(part))).all()
        return rows

    def get_trace_info(self, workspace: str, trace_id: str) -> TraceInfo:
        infos = self.get_trace_infos(workspace, [trace_id])
        if not infos:
            raise _not_found(trace_id)
        return infos[0]

    def get_trace_infos(self, workspace: str, trace_ids: Sequence[str]) -> list[TraceInfo]:
        with self.engine.connect() as conn:
            by_id = {i.trace_id: i for i in self._infos(conn, self._rows(conn, workspace,
                                                                          trace_ids))}
        return [by_id[i] for i in dict.fromkeys(trace_ids) if i in by_id]

    def get_spans(self, workspace: str, trace_ids: Sequence[str]) -> dict[str, list[TraceSpan]]:
        with self.engine.connect() as conn:
            rows = self._rows(conn, workspace, trace_ids)
            return self._spans(conn, {r.trace_key: r.trace_id for r in rows})

    def search_traces(self, workspace: str, experiment_ids: Sequence[str], *,
                      clauses: Sequence[Clause], order_by: Sequence[OrderKey],
                      max_results: int, offset: int) -> Page[TraceInfo]:
        attrs = _attributes()
        q = select(t.traces).where(_T.workspace == workspace,
                                   _T.experiment_id.in_([int(e) for e in experiment_ids]))
        for clause in clauses:
            q = q.where(clause_condition(clause, _T.trace_key, attrs, _CHILDREN, self.dialect))
        order = order_expressions(order_by, _T.trace_key, attrs, _CHILDREN)
        q = q.order_by(*order, _T.request_time.desc(), _T.trace_id).offset(offset) \
            .limit(max_results + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            infos = self._infos(conn, rows[:max_results])
        return Page(infos, offset + max_results if len(rows) > max_results else None)

    # --- tags and deletion ---

    def _key(self, conn: Connection, workspace: str, trace_id: str) -> int:
        key = conn.execute(select(_T.trace_key).where(_T.workspace == workspace,
                                                      _T.trace_id == trace_id)).scalar()
        if key is None:
            raise _not_found(trace_id)
        return int(key)

    def set_trace_tag(self, workspace: str, trace_id: str, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            trace_key = self._key(conn, workspace, trace_id)
            ins = dialect_insert(self.dialect, t.trace_tags)
            conn.execute(ins.values(trace_key=trace_key, key=key, value=value)
                         .on_conflict_do_update(index_elements=["trace_key", "key"],
                                                set_={"value": ins.excluded.value}))

    def delete_trace_tag(self, workspace: str, trace_id: str, key: str) -> None:
        with self.engine.begin() as conn:
            trace_key = self._key(conn, workspace, trace_id)
            res = conn.execute(delete(t.trace_tags).where(t.trace_tags.c.trace_key == trace_key,
                                                          t.trace_tags.c.key == key))
            if res.rowcount == 0:
                raise NotFoundError(f"No tag with key '{key}' on trace '{trace_id}'.")

    def delete_traces(self, workspace: str, experiment_id: str, *,
                      trace_ids: Sequence[str] | None = None,
                      max_timestamp_ms: int | None = None,
                      max_traces: int | None = None) -> int:
        q = select(_T.trace_key).where(_T.workspace == workspace,
                                       _T.experiment_id == int(experiment_id))
        if trace_ids is not None:
            q = q.where(_T.trace_id.in_(list(trace_ids)))
        if max_timestamp_ms is not None:
            q = q.where(_T.request_time <= max_timestamp_ms)
        q = q.order_by(_T.request_time, _T.trace_id)
        if max_traces is not None:
            q = q.limit(max_traces)
        with self.engine.begin() as conn:
            keys = list(conn.execute(q).scalars())
            for part in chunks(keys):
                for table in (t.trace_spans, t.trace_tags, t.trace_metadata):
                    conn.execute(delete(table).where(table.c.trace_key.in_(part)))
                conn.execute(delete(t.traces).where(_T.trace_key.in_(part)))
        return len(keys)
