from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.workspaces import Workspace
from ember.errors import ConflictError, NotFoundError
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate
from ember.store.workspaces import WorkspaceStore


def _entity(row: Any) -> Workspace:
    return Workspace(name=row.name, display_name=row.display_name, description=row.description,
                     tags=dict(row.tags or {}), creation_time=row.creation_time,
                     deleted_at=row.deleted_at)


class SqlWorkspaceStore(SqlRepo, WorkspaceStore):
    def create(self, workspace: Workspace) -> Workspace:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.workspaces).values(
                    name=workspace.name, display_name=workspace.display_name,
                    description=workspace.description, tags=workspace.tags,
                    creation_time=workspace.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"workspace {workspace.name!r}")
        return workspace

    def get(self, name: str) -> Workspace:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.workspaces).where(t.workspaces.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"workspace {name!r} does not exist")
        return _entity(row)

    def list(self) -> list[Workspace]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.workspaces).order_by(t.workspaces.c.name)).all()
        return [_entity(r) for r in rows]

    def mark_deleted(self, name: str, at: float) -> Workspace:
        c = t.workspaces.c
        with self.engine.begin() as conn:
            n = conn.execute(update(t.workspaces).where(c.name == name, c.deleted_at.is_(None))
                             .values(deleted_at=at)).rowcount
        found = self.get(name)   # NotFoundError for an unknown name
        if not n:
            raise ConflictError(f"workspace {name!r} is already deleted")
        return found
