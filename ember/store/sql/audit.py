from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select

from ember.entities.audit import AuditEntry
from ember.store.audit import AuditStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo


class SqlAuditStore(SqlRepo, AuditStore):
    def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(t.audit_log), [
                {"time": e.time, "user": e.user, "principal": e.principal,
                 "workspace": e.workspace, "action": e.action[:600], "resource": e.resource,
                 "outcome": e.outcome, "client": e.client[:255]} for e in entries])

    def list(self, *, workspace: str | None = None, user: str | None = None,
             since: float | None = None, limit: int = 1000) -> list[AuditEntry]:
        c = t.audit_log.c
        q = select(t.audit_log).order_by(c.id.desc()).limit(limit)
        if workspace is not None:
            q = q.where(c.workspace == workspace)
        if user is not None:
            q = q.where(c.user == user)
        if since is not None:
            q = q.where(c.time >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [AuditEntry(id=r.id, time=r.time, user=r.user, principal=r.principal,
                           workspace=r.workspace, action=r.action, resource=r.resource,
                           outcome=r.outcome, client=r.client) for r in reversed(rows)]
