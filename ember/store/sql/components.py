from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from ember.entities.components import Component
from ember.errors import NotFoundError
from ember.store.components import ComponentStore
from ember.store.sql import tables as t
from ember.store.sql.versioned import SqlVersionedStore


class SqlComponentStore(SqlVersionedStore[Component], ComponentStore):
    table = t.component_versions
    kind = "component"

    def _row(self, asset: Component) -> dict[str, Any]:
        spec = asset.to_dict()
        for key in ("name", "version", "archived", "creation_time"):
            spec.pop(key)
        return {"name": asset.name, "version": asset.version, "spec": spec,
                "creation_time": asset.creation_time, "archived": asset.archived}

    def _entity(self, row: Any) -> Component:
        spec = dict(row.spec)
        spec.update(name=row.name, version=row.version, archived=bool(row.archived),
                    creation_time=row.creation_time)
        return Component.from_dict(spec)

    def get(self, workspace: str, name: str, version: str | None = None) -> Component:
        if version:
            return super().get(workspace, name, version)
        c = self.table.c
        q = (select(self.table).where(c.workspace == workspace, c.name == name,
                                      c.archived.is_(False))
             .order_by(c.seq.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFoundError(f"component {name!r} does not exist in workspace {workspace!r}"
                                " (or every version is archived)")
        return self._entity(row)

    def list(self, workspace: str, name: str | None = None, *,
             include_archived: bool = False) -> list[Component]:
        c = self.table.c
        live = (c.workspace == workspace) if include_archived else \
            ((c.workspace == workspace) & c.archived.is_(False))
        with self.engine.connect() as conn:
            if name is not None:
                rows = conn.execute(select(self.table).where(live, c.name == name)
                                    .order_by(c.seq.desc())).all()
            else:
                latest = (select(c.name, func.max(c.seq).label("seq"))
                          .where(live).group_by(c.name).subquery())
                rows = conn.execute(select(self.table).join(
                    latest, (c.name == latest.c.name) & (c.seq == latest.c.seq))
                    .where(c.workspace == workspace).order_by(c.name)).all()
        return [self._entity(r) for r in rows]

    def set_archived(self, workspace: str, name: str, version: str,
                     archived: bool) -> Component:
        c = self.table.c
        with self.engine.begin() as conn:
            done = conn.execute(update(self.table).where(
                c.workspace == workspace, c.name == name, c.version == version)
                .values(archived=archived)).rowcount
        if not done:
            raise NotFoundError(
                f"component '{name}:{version}' does not exist in workspace {workspace!r}")
        return self.get(workspace, name, version)
