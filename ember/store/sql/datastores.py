from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from ember.entities.datastores import Datastore
from ember.errors import NotFoundError
from ember.store.datastores import DatastoreStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo


def _entity(row: Any) -> Datastore:
    return Datastore(name=row.name, type=row.type, root=row.root, description=row.description,
                     tags=dict(row.tags or {}), is_default=row.is_default,
                     creation_time=row.creation_time)


class SqlDatastoreStore(SqlRepo, DatastoreStore):
    def create_or_update(self, workspace: str, datastore: Datastore) -> Datastore:
        c = t.datastores.c
        with self.engine.begin() as conn:
            conn.execute(delete(t.datastores).where(c.workspace == workspace,
                                                    c.name == datastore.name))
            conn.execute(insert(t.datastores).values(
                workspace=workspace, name=datastore.name, type=datastore.type,
                root=datastore.root, description=datastore.description, tags=datastore.tags,
                is_default=datastore.is_default, creation_time=datastore.creation_time))
        return datastore

    def get(self, workspace: str, name: str) -> Datastore:
        c = t.datastores.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.datastores).where(c.workspace == workspace,
                                                          c.name == name)).first()
        if row is None:
            raise NotFoundError(f"datastore {name!r} does not exist in workspace {workspace!r}")
        return _entity(row)

    def list(self, workspace: str) -> list[Datastore]:
        c = t.datastores.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.datastores).where(c.workspace == workspace)
                                .order_by(c.name)).all()
        return [_entity(r) for r in rows]
