from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ember.entities.registries import Registry
from ember.errors import NotFoundError
from ember.store.registries import RegistryStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate


def _entity(row: Any) -> Registry:
    return Registry(name=row.name, description=row.description, tags=dict(row.tags or {}),
                    creation_time=row.creation_time)


class SqlRegistryStore(SqlRepo, RegistryStore):
    def create(self, registry: Registry) -> Registry:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.registries).values(
                    name=registry.name, description=registry.description, tags=registry.tags,
                    creation_time=registry.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"registry {registry.name!r}")
        return registry

    def get(self, name: str) -> Registry:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.registries).where(t.registries.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"registry {name!r} does not exist")
        return _entity(row)

    def list(self) -> list[Registry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.registries).order_by(t.registries.c.name)).all()
        return [_entity(r) for r in rows]
