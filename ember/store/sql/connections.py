"""SQL connections: the non-secret part as JSON (``spec``: configs, secret names, tags), the
secrets as the one sealed text column ``secrets``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.connections import MASK, Connection
from ember.errors import NotFoundError
from ember.store.connections import ConnectionStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate

C = t.connections


def _missing(workspace: str, name: str) -> NotFoundError:
    return NotFoundError(f"connection {name!r} does not exist in workspace {workspace!r}")


def _spec(conn: Connection) -> dict[str, Any]:
    return {"configs": dict(conn.configs), "secret_names": sorted(conn.secrets),
            "tags": dict(conn.tags)}


def _connection(row: Any) -> Connection:
    spec = dict(row.spec)
    return Connection(name=row.name, type=row.type, configs=dict(spec.get("configs") or {}),
                      secrets={k: MASK for k in spec.get("secret_names") or ()},
                      tags=dict(spec.get("tags") or {}), creation_time=row.creation_time,
                      last_modified_time=row.last_modified_time)


class SqlConnectionStore(SqlRepo, ConnectionStore):
    def create_connection(self, workspace: str, conn: Connection, sealed: str) -> None:
        try:
            with self.engine.begin() as db:
                db.execute(insert(C).values(
                    workspace=workspace, name=conn.name, type=conn.type, spec=_spec(conn),
                    secrets=sealed, creation_time=conn.creation_time,
                    last_modified_time=conn.last_modified_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"connection {conn.name!r}")

    def update_connection(self, workspace: str, conn: Connection, sealed: str) -> None:
        with self.engine.begin() as db:
            if not db.execute(update(C).where(C.c.workspace == workspace,
                                              C.c.name == conn.name)
                              .values(type=conn.type, spec=_spec(conn), secrets=sealed,
                                      last_modified_time=conn.last_modified_time)).rowcount:
                raise _missing(workspace, conn.name)

    def get_connection(self, workspace: str, name: str) -> Connection:
        return self.get_sealed(workspace, name)[0]

    def get_sealed(self, workspace: str, name: str) -> tuple[Connection, str]:
        with self.engine.connect() as db:
            row = db.execute(select(C).where(C.c.workspace == workspace,
                                             C.c.name == name)).first()
        if row is None:
            raise _missing(workspace, name)
        return _connection(row), str(row.secrets)

    def list_connections(self, workspace: str) -> list[Connection]:
        with self.engine.connect() as db:
            rows = db.execute(select(C).where(C.c.workspace == workspace)
                              .order_by(C.c.name)).all()
        return [_connection(r) for r in rows]

    def delete_connection(self, workspace: str, name: str) -> None:
        with self.engine.begin() as db:
            if not db.execute(delete(C).where(C.c.workspace == workspace,
                                              C.c.name == name)).rowcount:
                raise _missing(workspace, name)
