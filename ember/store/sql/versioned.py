"""SQL implementation shared by versioned assets; subclasses convert rows and entities."""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from ember.errors import NotFoundError
from ember.store.sql.base import SqlRepo, raise_duplicate

T = TypeVar("T")


class SqlVersionedStore(SqlRepo, abc.ABC, Generic[T]):
    table: Table
    kind: str

    @abc.abstractmethod
    def _row(self, asset: T) -> dict[str, Any]:
        """Column values for one version (without workspace and seq)."""

    @abc.abstractmethod
    def _entity(self, row: Any) -> T:
        """The entity for one row."""

    def create(self, workspace: str, asset: T) -> T:
        c = self.table.c
        name: str = asset.name  # type: ignore[attr-defined]
        try:
            with self.engine.begin() as conn:
                seq = conn.execute(select(func.coalesce(func.max(c.seq), 0)).where(
                    c.workspace == workspace, c.name == name)).scalar_one() + 1
                if not asset.version:  # type: ignore[attr-defined]
                    versions = conn.execute(select(c.version).where(
                        c.workspace == workspace, c.name == name)).scalars().all()
                    # "²".isdigit() is true, and int("²") fails: ASCII digits only
                    numeric = [int(v) for v in versions if v.isascii() and v.isdigit()]
                    asset.version = str(max(numeric, default=0) + 1)  # type: ignore[attr-defined]
                conn.execute(insert(self.table).values(workspace=workspace, seq=seq,
                                                       **self._row(asset)))
        except IntegrityError as exc:
            raise_duplicate(exc, f"{self.kind} {name}:{asset.version}")  # type: ignore[attr-defined]
        return asset

    def get(self, workspace: str, name: str, version: str | None = None) -> T:
        c = self.table.c
        q = select(self.table).where(c.workspace == workspace, c.name == name)
        q = q.where(c.version == version) if version else q.order_by(c.seq.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            which = f"{name}:{version}" if version else name
            raise NotFoundError(f"{self.kind} {which!r} does not exist in workspace {workspace!r}")
        return self._entity(row)

    def list(self, workspace: str, name: str | None = None) -> list[T]:
        c = self.table.c
        with self.engine.connect() as conn:
            if name is not None:
                rows = conn.execute(select(self.table).where(
                    c.workspace == workspace, c.name == name).order_by(c.seq.desc())).all()
            else:
                latest = (select(c.name, func.max(c.seq).label("seq"))
                          .where(c.workspace == workspace).group_by(c.name).subquery())
                rows = conn.execute(select(self.table).join(
                    latest, (c.name == latest.c.name) & (c.seq == latest.c.seq))
                    .where(c.workspace == workspace).order_by(c.name)).all()
        return [self._entity(r) for r in rows]
