from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from ember.entities.computes import Compute
from ember.errors import NotFoundError
from ember.store.computes import ComputeStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo


def _entity(row: Any) -> Compute:
    return Compute(name=row.name, type=row.type, description=row.description,
                   address=row.address, max_concurrent_jobs=row.max_concurrent_jobs,
                   resources={k: float(v) for k, v in (row.resources or {}).items()},
                   tags=dict(row.tags or {}), creation_time=row.creation_time)


def _missing(workspace: str, name: str) -> NotFoundError:
    return NotFoundError(f"compute {name!r} does not exist in workspace {workspace!r}")


class SqlComputeStore(SqlRepo, ComputeStore):
    def create_or_update(self, workspace: str, compute: Compute) -> Compute:
        c = t.computes.c
        with self.engine.begin() as conn:
            conn.execute(delete(t.computes).where(c.workspace == workspace,
                                                  c.name == compute.name))
            conn.execute(insert(t.computes).values(
                workspace=workspace, name=compute.name, type=compute.type,
                description=compute.description, address=compute.address,
                max_concurrent_jobs=compute.max_concurrent_jobs, resources=compute.resources,
                tags=compute.tags, creation_time=compute.creation_time))
        return compute

    def get(self, workspace: str, name: str) -> Compute:
        c = t.computes.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.computes).where(c.workspace == workspace,
                                                        c.name == name)).first()
        if row is None:
            raise _missing(workspace, name)
        return _entity(row)

    def list(self, workspace: str) -> list[Compute]:
        c = t.computes.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.computes).where(c.workspace == workspace)
                                .order_by(c.name)).all()
        return [_entity(r) for r in rows]

    def delete(self, workspace: str, name: str) -> None:
        c = t.computes.c
        with self.engine.begin() as conn:
            gone = conn.execute(delete(t.computes).where(c.workspace == workspace,
                                                         c.name == name)).rowcount
        if not gone:
            raise _missing(workspace, name)
