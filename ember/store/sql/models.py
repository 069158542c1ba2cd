"""SQL model registry: ``registered_models``, ``model_versions``, ``model_aliases``."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.models import Model, RegisteredModel
from ember.errors import NotFoundError
from ember.store.models import ModelStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate

R, V, A = t.registered_models, t.model_versions, t.model_aliases


def _now() -> int:
    return int(time.time() * 1000)


def _missing(workspace: str, name: str, version: int | None = None) -> NotFoundError:
    which = f"{name}:{version}" if version is not None else name
    kind = "model version" if version is not None else "registered model"
    return NotFoundError(f"{kind} {which!r} does not exist in workspace {workspace!r}")


class SqlModelStore(SqlRepo, ModelStore):
    # --- registered models ---------------------------------------------------------------

    def create_registered(self, workspace: str, model: RegisteredModel) -> RegisteredModel:
        now = _now()
        model.creation_time = model.creation_time or now
        model.last_update_time = model.last_update_time or model.creation_time
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(R).values(
                    workspace=workspace, name=model.name, description=model.description,
                    tags=model.tags, creation_time=model.creation_time,
                    last_update_time=model.last_update_time, last_version=0))
        except IntegrityError as exc:
            raise_duplicate(exc, f"registered model {model.name!r}")
        return self.get_registered(workspace, model.name)

    def _aliases(self, conn: Connection, workspace: str, name: str) -> dict[str, int]:
        rows = conn.execute(select(A.c.alias, A.c.version).where(
            A.c.workspace == workspace, A.c.name == name).order_by(A.c.alias)).all()
        return {r.alias: r.version for r in rows}

    def get_registered(self, workspace: str, name: str) -> RegisteredModel:
        with self.engine.connect() as conn:
            row = conn.execute(select(R).where(R.c.workspace == workspace,
                                               R.c.name == name)).first()
            if row is None:
                raise _missing(workspace, name)
            return self._registered(row, self._aliases(conn, workspace, name))

    def list_registered(self, workspace: str) -> list[RegisteredModel]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(R).where(R.c.workspace == workspace)
                                .order_by(R.c.name)).all()
            aliases: dict[str, dict[str, int]] = {}
            for a in conn.execute(select(A).where(A.c.workspace == workspace)
                                  .order_by(A.c.alias)).all():
                aliases.setdefault(a.name, {})[a.alias] = a.version
        return [self._registered(r, aliases.get(r.name, {})) for r in rows]

    def update_registered(self, workspace: str, name: str, *, description: str | None = None,
                          tags: dict[str, str] | None = None,
                          new_name: str | None = None) -> RegisteredModel:
        values: dict[str, Any] = {"last_update_time": _now()}
        if description is not None:
            values["description"] = description
        if tags is not None:
            values["tags"] = tags
        try:
            with self.engine.begin() as conn:
                where = (R.c.workspace == workspace) & (R.c.name == name)
                if not conn.execute(update(R).where(where).values(**values)).rowcount:
                    raise _missing(workspace, name)
                if new_name is not None and new_name != name:
                    for table in (R, V, A):
                        conn.execute(update(table).where(
                            table.c.workspace == workspace, table.c.name == name)
                            .values(name=new_name))
        except IntegrityError as exc:
            raise_duplicate(exc, f"registered model {new_name!r}")
        return self.get_registered(workspace, new_name or name)

    def delete_registered(self, workspace: str, name: str) -> None:
        with self.engine.begin() as conn:
            for table in (A, V):
                conn.execute(delete(table).where(table.c.workspace == workspace,
                                                 table.c.name == name))
            if not conn.execute(delete(R).where(R.c.workspace == workspace,
                                                R.c.name == name)).rowcount:
                raise _missing(workspace, name)

    # --- versions ------------------------------------------------------------------------

    def create_version(self, workspace: str, model: Model) -> Model:
        now = _now()
        model.creation_time = model.creation_time or now
        model.last_update_time = model.creation_time
        try:
            with self.engine.begin() as conn:
                where = (R.c.workspace == workspace) & (R.c.name == model.name)
                # The update takes the row lock first, so concurrent creators serialise here.
                if not conn.execute(update(R).where(where).values(
                        last_update_time=now)).rowcount:
                    raise _missing(workspace, model.name)
                last = conn.execute(select(R.c.last_version).where(where)).scalar_one()
                if not model.version:
                    model.version = last + 1
                conn.execute(update(R).where(where).values(
                    last_version=max(last, model.version)))
                conn.execute(insert(V).values(workspace=workspace, **self._row(model)))
        except IntegrityError as exc:
            raise_duplicate(exc, f"model version '{model.name}:{model.version}'")
        return self.get_version(workspace, model.name, model.version)

    def get_version(self, workspace: str, name: str, version: int) -> Model:
        with self.engine.connect() as conn:
            row = conn.execute(select(V).where(V.c.workspace == workspace, V.c.name == name,
                                               V.c.version == version)).first()
            if row is None:
                raise _missing(workspace, name, version)
            aliases = [a for a, v in self._aliases(conn, workspace, name).items()
                       if v == version]
        return self._model(row, aliases)

    def list_versions(self, workspace: str, name: str | None = None, *,
                      include_archived: bool = False) -> list[Model]:
        q = select(V).where(V.c.workspace == workspace)
        qa = select(A).where(A.c.workspace == workspace)
        if name is not None:
            q, qa = q.where(V.c.name == name), qa.where(A.c.name == name)
        if not include_archived:
            q = q.where(V.c.archived.is_(False))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(V.c.name, V.c.version.desc())).all()
            aliases: dict[tuple[str, int], list[str]] = {}
            for a in conn.execute(qa.order_by(A.c.alias)).all():
                aliases.setdefault((a.name, a.version), []).append(a.alias)
        return [self._model(r, aliases.get((r.name, r.version), [])) for r in rows]

    def update_version(self, workspace: str, name: str, version: int, *,
                       description: str | None = None, tags: dict[str, str] | None = None,
                       properties: dict[str, str] | None = None, stage: str | None = None,
                       archived: bool | None = None, status: str | None = None) -> Model:
        given = {"description": description, "tags": tags, "properties": properties,
                 "stage": stage, "archived": archived, "status": status}
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        values["last_update_time"] = _now()
        with self.engine.begin() as conn:
            if not conn.execute(update(V).where(
                    V.c.workspace == workspace, V.c.name == name, V.c.version == version)
                    .values(**values)).rowcount:
                raise _missing(workspace, name, version)
        return self.get_version(workspace, name, version)

    def delete_version(self, workspace: str, name: str, version: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(A).where(A.c.workspace == workspace, A.c.name == name,
                                         A.c.version == version))
            if not conn.execute(delete(V).where(V.c.workspace == workspace, V.c.name == name,
                                                V.c.version == version)).rowcount:
                raise _missing(workspace, name, version)

    def set_tag(self, workspace: str, name: str, version: int | None, key: str,
                value: str | None) -> None:
        table = R if version is None else V
        where = (table.c.workspace == workspace) & (table.c.name == name)
        if version is not None:
            where = where & (V.c.version == version)
        with self.engine.begin() as conn:
            # Write first: it takes the row's lock (PostgreSQL) or the database's write lock
            # (SQLite), so the read below cannot interleave with another tag writer.
            if not conn.execute(update(table).where(where).values(
                    last_update_time=_now())).rowcount:
                raise _missing(workspace, name, version)
            tags = dict(conn.execute(select(table.c.tags).where(where)).scalar_one() or {})
            if value is None:
                tags.pop(key, None)
            else:
                tags[key] = value
            conn.execute(update(table).where(where).values(tags=tags))

    # --- aliases -------------------------------------------------------------------------

    def set_alias(self, workspace: str, name: str, alias: str, version: int) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(V.c.version).where(
                    V.c.workspace == workspace, V.c.name == name,
                    V.c.version == version)).first() is None:
                raise _missing(workspace, name, version)
            where = (A.c.workspace == workspace) & (A.c.name == name) & (A.c.alias == alias)
            if not conn.execute(update(A).where(where).values(version=version)).rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(A).values(workspace=workspace, name=name,
                                                      alias=alias, version=version))
                except IntegrityError:   # a concurrent setter inserted it: move it instead
                    conn.execute(update(A).where(where).values(version=version))

    def delete_alias(self, workspace: str, name: str, alias: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(A).where(A.c.workspace == workspace, A.c.name == name,
                                                A.c.alias == alias)).rowcount:
                raise NotFoundError(f"registered model {name!r} has no alias {alias!r}")

    # --- rows ----------------------------------------------------------------------------

    @staticmethod
    def _row(m: Model) -> dict[str, Any]:
        return {"name": m.name, "version": m.version, "type": m.type, "path": m.path,
                "source": m.source, "run_id": m.run_id, "model_id": m.model_id,
                "description": m.description, "tags": m.tags, "properties": m.properties,
                "flavors": m.flavors, "stage": m.stage, "status": m.status,
                "archived": m.archived, "creation_time": m.creation_time,
                "last_update_time": m.last_update_time}

    @staticmethod
    def _model(row: Any, aliases: list[str]) -> Model:
        return Model(name=row.name, version=row.version, type=row.type, path=row.path,
                     source=row.source, run_id=row.run_id, model_id=row.model_id,
                     description=row.description, tags=dict(row.tags or {}),
                     properties=dict(row.properties or {}), flavors=dict(row.flavors or {}),
                     stage=row.stage, status=row.status, archived=bool(row.archived),
                     creation_time=row.creation_time, last_update_time=row.last_update_time,
                     aliases=list(aliases))

    @staticmethod
    def _registered(row: Any, aliases: dict[str, int]) -> RegisteredModel:
        return RegisteredModel(name=row.name, description=row.description,
                               tags=dict(row.tags or {}), creation_time=row.creation_time,
                               last_update_time=row.last_update_time, aliases=aliases)



