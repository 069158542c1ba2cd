from __future__ import annotations

import builtins
import time

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobInput, JobOutput, JobQuery, JobStatus, StatusChange
from ember.errors import NotFoundError
from ember.store.jobs import JobStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate
from ember.store.sql.job_query import count_query, page_query

_COLUMNS = ("name", "type", "status", "display_name", "experiment_name", "parent_job_name",
            "runner", "error", "creation_time", "start_time", "end_time", "reuse_key",
            "is_archived", "submitter")
# What the user edits (PATCH /jobs/<name>) inside ``spec``: the engine's rewrites keep them.
_USER_SPEC_FIELDS = ("description", "tags")


def job_to_spec(job: Job) -> dict[str, Any]:
    spec = asdict(job)
    for key in _COLUMNS + ("status_history",):
        spec.pop(key, None)
    return spec


def job_from_row(row: Any, history: list[StatusChange]) -> Job:
    spec = dict(row.spec)
    env = spec.get("environment")
    if isinstance(env, dict):
        spec["environment"] = Environment(**env)
    spec["inputs"] = {k: JobInput(**v) for k, v in (spec.get("inputs") or {}).items()}
    spec["outputs"] = {k: JobOutput(**v) for k, v in (spec.get("outputs") or {}).items()}
    return Job(
        name=row.name, type=row.type, status=row.status, display_name=row.display_name,
        experiment_name=row.experiment_name, parent_job_name=row.parent_job_name,
        runner=dict(row.runner or {}), error=row.error, creation_time=row.creation_time,
        start_time=row.start_time, end_time=row.end_time, reuse_key=row.reuse_key,
        is_archived=bool(row.is_archived), submitter=row.submitter, status_history=history,
        **spec,
    )


class SqlJobStore(SqlRepo, JobStore):
    def create(self, workspace: str, job: Job) -> Job:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.jobs).values(
                    name=job.name, workspace=workspace, type=job.type, status=job.status,
                    display_name=job.display_name, experiment_name=job.experiment_name,
                    parent_job_name=job.parent_job_name, spec=job_to_spec(job),
                    runner=job.runner, error=job.error, creation_time=job.creation_time,
                    start_time=job.start_time, end_time=job.end_time,
                    reuse_key=job.reuse_key, is_archived=job.is_archived,
                    submitter=job.submitter))
                conn.execute(insert(t.job_status_changes).values(
                    job_name=job.name, status=job.status, time=job.creation_time, reason=""))
        except IntegrityError as exc:
            raise_duplicate(exc, f"job {job.name!r}")
        job.status_history = [StatusChange(job.status, job.creation_time)]
        return job

    def _history(self, conn: Any, names: list[str]) -> dict[str, list[StatusChange]]:
        c = t.job_status_changes.c
        out: dict[str, list[StatusChange]] = {n: [] for n in names}
        if not names:
            return out
        rows = conn.execute(select(t.job_status_changes).where(c.job_name.in_(names))
                            .order_by(c.id)).all()
        for r in rows:
            out[r.job_name].append(StatusChange(r.status, r.time, r.reason))
        return out

    def name_taken(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(t.jobs.c.name).where(t.jobs.c.name == name)
                                ).first() is not None

    def get(self, workspace: str, name: str, *, with_history: bool = True) -> Job:
        c = t.jobs.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.jobs).where(c.workspace == workspace,
                                                    c.name == name)).first()
            if row is None:
                raise NotFoundError(f"job {name!r} does not exist in workspace {workspace!r}")
            history = self._history(conn, [name])[name] if with_history else []
            return job_from_row(row, history)

    def child_statuses(self, workspace: str, parent_job_name: str) -> dict[str, str]:
        c = t.jobs.c
        q = select(c.name, c.status).where(c.workspace == workspace,
                                           c.parent_job_name == parent_job_name)
        with self.engine.connect() as conn:
            return {r.name: r.status for r in conn.execute(q)}

    def get_status(self, workspace: str, name: str) -> str:
        c = t.jobs.c
        with self.engine.connect() as conn:
            status = conn.execute(select(c.status).where(c.workspace == workspace,
                                                         c.name == name)).scalar()
        if status is None:
            raise NotFoundError(f"job {name!r} does not exist in workspace {workspace!r}")
        return str(status)

    def list(self, workspace: str, *, parent_job_name: str | None = None,
             statuses: Iterable[str] | None = None, archived: bool | None = None,
             max_results: int = 100, with_history: bool = True) -> builtins.list[Job]:
        c = t.jobs.c
        q = select(t.jobs).where(c.workspace == workspace)
        if parent_job_name is not None:
            q = q.where(c.parent_job_name == parent_job_name)
        if statuses is not None:
            q = q.where(c.status.in_(list(statuses)))
        if archived is not None:
            q = q.where(c.is_archived == archived)
        q = q.order_by(c.creation_time.desc()).limit(max_results)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            hist = self._history(conn, [r.name for r in rows]) if with_history else {}
        return [job_from_row(r, hist.get(r.name, [])) for r in rows]

    def search(self, workspace: str, query: JobQuery, *, with_history: bool = True,
               count: bool = False) -> tuple[builtins.list[Job], int | None]:
        with self.engine.connect() as conn:
            rows = conn.execute(page_query(workspace, query, time.time())).all()
            hist = self._history(conn, [r.name for r in rows]) if with_history else {}
            total = conn.execute(count_query(workspace, query)).scalar_one() if count else None
        return [job_from_row(r, hist.get(r.name, [])) for r in rows], total

    def list_in_status(self, statuses: Iterable[str], *, with_history: bool = True
                       ) -> builtins.list[tuple[str, Job]]:
        c = t.jobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.jobs).where(c.status.in_(list(statuses)))
                                .order_by(c.creation_time)).all()
            hist = self._history(conn, [r.name for r in rows]) if with_history else {}
        return [(r.workspace, job_from_row(r, hist.get(r.name, []))) for r in rows]

    def transition(self, workspace: str, name: str, new_status: str, *,
                   allowed_from: Iterable[str], time: float, reason: str = "",
                   error: str | None = None) -> bool:
        c = t.jobs.c
        values: dict[str, Any] = {"status": new_status}
        if new_status == JobStatus.RUNNING:
            values["start_time"] = time
        if new_status in JobStatus.TERMINAL:
            values["end_time"] = time
        if error is not None:
            values["error"] = error
        with self.engine.begin() as conn:
            res = conn.execute(update(t.jobs).where(
                c.workspace == workspace, c.name == name,
                c.status.in_(list(allowed_from))).values(**values))
            if res.rowcount != 1:
                return False
            conn.execute(insert(t.job_status_changes).values(
                job_name=name, status=new_status, time=time, reason=reason))
        return True

    @staticmethod
    def _locked_spec(conn: Connection, workspace: str, name: str) -> dict[str, Any]:
        """The job's stored spec, its row locked until the transaction ends: a no-op write
        first, since SQLite has no row lock and takes its write lock only on a write (a plain
        read would let two read-modify-writes interleave); PostgreSQL locks the row."""
        c = t.jobs.c
        where = (c.workspace == workspace, c.name == name)
        if conn.execute(update(t.jobs).where(*where).values(status=c.status)).rowcount != 1:
            raise NotFoundError(f"job {name!r} does not exist in workspace {workspace!r}")
        return dict(conn.execute(select(c.spec).where(*where).with_for_update()).scalar_one())

    def update(self, workspace: str, job: Job) -> None:
        c = t.jobs.c
        spec = job_to_spec(job)
        with self.engine.begin() as conn:
            stored = self._locked_spec(conn, workspace, job.name)
            for key in _USER_SPEC_FIELDS:
                if key in stored:
                    spec[key] = stored[key]
            conn.execute(update(t.jobs).where(c.workspace == workspace, c.name == job.name)
                         .values(spec=spec, reuse_key=job.reuse_key))

    def update_metadata(self, workspace: str, name: str, *, display_name: str | None = None,
                        description: str | None = None,
                        tags: dict[str, str] | None = None) -> None:
        c = t.jobs.c
        with self.engine.begin() as conn:
            spec = self._locked_spec(conn, workspace, name)
            values: dict[str, Any] = {}
            if display_name is not None:
                values["display_name"] = display_name
            if description is not None:
                spec["description"] = description
            if tags is not None:
                spec["tags"] = dict(tags)
            conn.execute(update(t.jobs).where(c.workspace == workspace, c.name == name)
                         .values(spec=spec, **values))

    def set_archived(self, workspace: str, names: Iterable[str], archived: bool) -> None:
        c = t.jobs.c
        wanted = set(names)
        with self.engine.connect() as conn:
            with conn.begin() as tx:
                res = conn.execute(update(t.jobs).where(c.workspace == workspace,
                                                        c.name.in_(sorted(wanted)))
                                   .values(is_archived=archived))
                if res.rowcount == len(wanted):
                    return
                tx.rollback()
            found = set(conn.execute(select(c.name).where(
                c.workspace == workspace, c.name.in_(sorted(wanted)))).scalars())
        missing = sorted(wanted - found)[0]
        raise NotFoundError(f"job {missing!r} does not exist in workspace {workspace!r}")

    def delete(self, workspace: str, names: Iterable[str], *, only_in: Iterable[str]) -> bool:
        c = t.jobs.c
        wanted = sorted(set(names))
        with self.engine.connect() as conn, conn.begin() as tx:
            # The history first (it refers to the job); undone below with the rest if a job is
            # missing or has moved on.
            conn.execute(delete(t.job_status_changes).where(
                t.job_status_changes.c.job_name.in_(
                    select(c.name).where(c.workspace == workspace, c.name.in_(wanted)))))
            res = conn.execute(delete(t.jobs).where(c.workspace == workspace,
                                                    c.name.in_(wanted),
                                                    c.status.in_(list(only_in))))
            if res.rowcount != len(wanted):
                tx.rollback()
                return False
        return True

    def find_reusable(self, workspace: str, reuse_key: str) -> Job | None:
        c = t.jobs.c
        q = (select(t.jobs).where(c.workspace == workspace, c.reuse_key == reuse_key,
                                  c.status == JobStatus.COMPLETED)
             .order_by(c.creation_time.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else job_from_row(row, [])

    def set_runner(self, workspace: str, name: str, runner: dict[str, Any]) -> None:
        c = t.jobs.c
        with self.engine.begin() as conn:
            conn.execute(update(t.jobs).where(c.workspace == workspace, c.name == name)
                         .values(runner=runner))
