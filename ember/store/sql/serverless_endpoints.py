"""SQL serverless endpoints: each kept as its JSON spec plus key columns (the read-only
fields a service fills on the way out, scoring URI and usage, are not stored)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.online_endpoints import EndpointKeys
from ember.entities.serverless_endpoints import ServerlessEndpoint
from ember.errors import NotFoundError
from ember.store.serverless_endpoints import ServerlessEndpointStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate

S = t.serverless_endpoints
_NOT_STORED = ("name", "scoring_uri", "openai_base_url", "usage")


def _missing(workspace: str, name: str) -> NotFoundError:
    return NotFoundError(f"serverless endpoint {name!r} does not exist in workspace "
                         f"{workspace!r}")


def _spec(ep: ServerlessEndpoint) -> dict[str, Any]:
    spec = ep.to_dict()
    for key in _NOT_STORED:
        spec.pop(key)
    return spec


def _endpoint(row: Any) -> ServerlessEndpoint:
    return ServerlessEndpoint.from_dict({**dict(row.spec), "name": row.name})


class SqlServerlessEndpointStore(SqlRepo, ServerlessEndpointStore):
    def create_endpoint(self, workspace: str, endpoint: ServerlessEndpoint,
                        keys: EndpointKeys) -> ServerlessEndpoint:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(S).values(
                    workspace=workspace, name=endpoint.name, spec=_spec(endpoint),
                    primary_key=keys.primary_key, secondary_key=keys.secondary_key,
                    creation_time=endpoint.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"serverless endpoint {endpoint.name!r}")
        return endpoint

    def get_endpoint(self, workspace: str, name: str) -> ServerlessEndpoint:
        with self.engine.connect() as conn:
            row = conn.execute(select(S).where(S.c.workspace == workspace,
                                               S.c.name == name)).first()
        if row is None:
            raise _missing(workspace, name)
        return _endpoint(row)

    def list_endpoints(self, workspace: str | None = None
                       ) -> list[tuple[str, ServerlessEndpoint]]:
        q = select(S).order_by(S.c.workspace, S.c.name)
        if workspace is not None:
            q = q.where(S.c.workspace == workspace)
        with self.engine.connect() as conn:
            return [(r.workspace, _endpoint(r)) for r in conn.execute(q).all()]

    def update_endpoint(self, workspace: str, endpoint: ServerlessEndpoint) -> ServerlessEndpoint:
        with self.engine.begin() as conn:
            if not conn.execute(update(S).where(S.c.workspace == workspace,
                                                S.c.name == endpoint.name)
                                .values(spec=_spec(endpoint))).rowcount:
                raise _missing(workspace, endpoint.name)
        return endpoint

    def delete_endpoint(self, workspace: str, name: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(S).where(S.c.workspace == workspace,
                                                S.c.name == name)).rowcount:
                raise _missing(workspace, name)

    def get_keys(self, workspace: str, name: str) -> EndpointKeys:
        with self.engine.connect() as conn:
            row = conn.execute(select(S.c.primary_key, S.c.secondary_key).where(
                S.c.workspace == workspace, S.c.name == name)).first()
        if row is None:
            raise _missing(workspace, name)
        return EndpointKeys(row.primary_key, row.secondary_key)

    def list_keys(self) -> dict[tuple[str, str], EndpointKeys]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(S.c.workspace, S.c.name, S.c.primary_key,
                                       S.c.secondary_key)).all()
        return {(r.workspace, r.name): EndpointKeys(r.primary_key, r.secondary_key)
                for r in rows}

    def set_keys(self, workspace: str, name: str, keys: EndpointKeys) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(update(S).where(S.c.workspace == workspace, S.c.name == name)
                                .values(primary_key=keys.primary_key,
                                        secondary_key=keys.secondary_key)).rowcount:
                raise _missing(workspace, name)
