from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ember.entities.workspaces import Workspace
from ember.errors import NotFoundError
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate
from ember.store.workspaces import WorkspaceStore


def _entity(row: Any) -> Workspace:
    return Workspace(name=row.name, display_name=row.display_name, description=row.description,
                     tags=dict(row.tags or {}), creation_time=row.creation_time)


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
