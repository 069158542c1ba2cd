"""SQL batch endpoints and deployments, each kept as its JSON spec."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.batch_endpoints import BatchDeployment, BatchEndpoint
from ember.errors import NotFoundError
from ember.store.batch_endpoints import BatchEndpointStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate

E, D = t.batch_endpoints, t.batch_deployments


def _no_endpoint(workspace: str, name: str) -> NotFoundError:
    return NotFoundError(f"batch endpoint {name!r} does not exist in workspace {workspace!r}")


def _endpoint(row: Any) -> BatchEndpoint:
    spec = {k: v for k, v in dict(row.spec).items() if k in BatchEndpoint.__dataclass_fields__}
    spec["name"] = row.name
    return BatchEndpoint(**spec)


class SqlBatchEndpointStore(SqlRepo, BatchEndpointStore):
    def create_endpoint(self, workspace: str, endpoint: BatchEndpoint) -> BatchEndpoint:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(E).values(workspace=workspace, name=endpoint.name,
                                              spec=endpoint.to_dict(),
                                              creation_time=endpoint.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"batch endpoint {endpoint.name!r}")
        return endpoint

    def get_endpoint(self, workspace: str, name: str) -> BatchEndpoint:
        with self.engine.connect() as conn:
            row = conn.execute(select(E).where(E.c.workspace == workspace,
                                               E.c.name == name)).first()
        if row is None:
            raise _no_endpoint(workspace, name)
        return _endpoint(row)

    def list_endpoints(self, workspace: str) -> list[BatchEndpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(E).where(E.c.workspace == workspace)
                                .order_by(E.c.name)).all()
        return [_endpoint(r) for r in rows]

    def update_endpoint(self, workspace: str, endpoint: BatchEndpoint) -> BatchEndpoint:
        with self.engine.begin() as conn:
            if not conn.execute(update(E).where(E.c.workspace == workspace,
                                                E.c.name == endpoint.name)
                                .values(spec=endpoint.to_dict())).rowcount:
                raise _no_endpoint(workspace, endpoint.name)
        return endpoint

    def delete_endpoint(self, workspace: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(D).where(D.c.workspace == workspace, D.c.endpoint == name))
            if not conn.execute(delete(E).where(E.c.workspace == workspace,
                                                E.c.name == name)).rowcount:
                raise _no_endpoint(workspace, name)

    def put_deployment(self, workspace: str, deployment: BatchDeployment) -> BatchDeployment:
        where = ((D.c.workspace == workspace) & (D.c.endpoint == deployment.endpoint_name)
                 & (D.c.name == deployment.name))
        with self.engine.begin() as conn:
            if conn.execute(select(E.c.name).where(
                    E.c.workspace == workspace,
                    E.c.name == deployment.endpoint_name)).first() is None:
                raise _no_endpoint(workspace, deployment.endpoint_name)
            if not conn.execute(update(D).where(where).values(
                    spec=deployment.to_dict())).rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(D).values(
                            workspace=workspace, endpoint=deployment.endpoint_name,
                            name=deployment.name, spec=deployment.to_dict(),
                            creation_time=deployment.creation_time))
                except IntegrityError as exc:
                    raise_duplicate(exc, f"batch deployment {deployment.name!r}")
        return deployment

    def get_deployment(self, workspace: str, endpoint: str, name: str) -> BatchDeployment:
        with self.engine.connect() as conn:
            row = conn.execute(select(D).where(D.c.workspace == workspace,
                                               D.c.endpoint == endpoint,
                                               D.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"batch deployment {name!r} does not exist on endpoint "
                                f"{endpoint!r} in workspace {workspace!r}")
        return BatchDeployment.from_dict(dict(row.spec))

    def list_deployments(self, workspace: str, endpoint: str) -> list[BatchDeployment]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(D).where(D.c.workspace == workspace,
                                                D.c.endpoint == endpoint)
                                .order_by(D.c.name)).all()
        return [BatchDeployment.from_dict(dict(r.spec)) for r in rows]

    def delete_deployment(self, workspace: str, endpoint: str, name: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(D).where(D.c.workspace == workspace,
                                                D.c.endpoint == endpoint,
                                                D.c.name == name)).rowcount:
                raise NotFoundError(f"batch deployment {name!r} does not exist on endpoint "
                                    f"{endpoint!r}")
