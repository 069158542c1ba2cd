"""SQL online endpoints and deployments: each kept as its JSON spec plus key columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.online_endpoints import EndpointKeys, OnlineDeployment, OnlineEndpoint
from ember.errors import NotFoundError
from ember.store.online_endpoints import OnlineEndpointStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate

E, D = t.online_endpoints, t.online_deployments


def _no_endpoint(workspace: str, name: str) -> NotFoundError:
    return NotFoundError(f"online endpoint {name!r} does not exist in workspace {workspace!r}")


def _no_deployment(workspace: str, endpoint: str, name: str) -> NotFoundError:
    return NotFoundError(f"online deployment {name!r} does not exist on endpoint {endpoint!r} "
                         f"in workspace {workspace!r}")


def _endpoint_spec(ep: OnlineEndpoint) -> dict[str, Any]:
    spec = ep.to_dict()
    spec.pop("name")
    return spec


def _endpoint(row: Any) -> OnlineEndpoint:
    spec = {k: v for k, v in dict(row.spec).items()
            if k in OnlineEndpoint.__dataclass_fields__}
    return OnlineEndpoint(name=row.name, **spec)


class SqlOnlineEndpointStore(SqlRepo, OnlineEndpointStore):
    def create_endpoint(self, workspace: str, endpoint: OnlineEndpoint,
                        keys: EndpointKeys) -> OnlineEndpoint:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(E).values(
                    workspace=workspace, name=endpoint.name, spec=_endpoint_spec(endpoint),
                    primary_key=keys.primary_key, secondary_key=keys.secondary_key,
                    creation_time=endpoint.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"online endpoint {endpoint.name!r}")
        return endpoint

    def get_endpoint(self, workspace: str, name: str) -> OnlineEndpoint:
        with self.engine.connect() as conn:
            row = conn.execute(select(E).where(E.c.workspace == workspace,
                                               E.c.name == name)).first()
        if row is None:
            raise _no_endpoint(workspace, name)
        return _endpoint(row)

    def list_endpoints(self, workspace: str | None = None) -> list[tuple[str, OnlineEndpoint]]:
        q = select(E).order_by(E.c.workspace, E.c.name)
        if workspace is not None:
            q = q.where(E.c.workspace == workspace)
        with self.engine.connect() as conn:
            return [(r.workspace, _endpoint(r)) for r in conn.execute(q).all()]

    def update_endpoint(self, workspace: str, endpoint: OnlineEndpoint) -> OnlineEndpoint:
        with self.engine.begin() as conn:
            if not conn.execute(update(E).where(E.c.workspace == workspace,
                                                E.c.name == endpoint.name)
                                .values(spec=_endpoint_spec(endpoint))).rowcount:
                raise _no_endpoint(workspace, endpoint.name)
        return endpoint

    def delete_endpoint(self, workspace: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(D).where(D.c.workspace == workspace, D.c.endpoint == name))
            if not conn.execute(delete(E).where(E.c.workspace == workspace,
                                                E.c.name == name)).rowcount:
                raise _no_endpoint(workspace, name)

    def get_keys(self, workspace: str, name: str) -> EndpointKeys:
        with self.engine.connect() as conn:
            row = conn.execute(select(E.c.primary_key, E.c.secondary_key).where(
                E.c.workspace == workspace, E.c.name == name)).first()
        if row is None:
            raise _no_endpoint(workspace, name)
        return EndpointKeys(row.primary_key, row.secondary_key)

    def list_keys(self) -> dict[tuple[str, str], EndpointKeys]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(E.c.workspace, E.c.name, E.c.primary_key,
                                       E.c.secondary_key)).all()
        return {(r.workspace, r.name): EndpointKeys(r.primary_key, r.secondary_key)
                for r in rows}

    def set_keys(self, workspace: str, name: str, keys: EndpointKeys) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(update(E).where(E.c.workspace == workspace, E.c.name == name)
                                .values(primary_key=keys.primary_key,
                                        secondary_key=keys.secondary_key)).rowcount:
                raise _no_endpoint(workspace, name)

    def create_deployment(self, workspace: str, deployment: OnlineDeployment) -> OnlineDeployment:
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(E.c.name).where(
                        E.c.workspace == workspace,
                        E.c.name == deployment.endpoint_name)).first() is None:
                    raise _no_endpoint(workspace, deployment.endpoint_name)
                conn.execute(insert(D).values(
                    workspace=workspace, endpoint=deployment.endpoint_name,
                    name=deployment.name, spec=deployment.to_dict(),
                    creation_time=deployment.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"online deployment {deployment.name!r} on endpoint "
                                 f"{deployment.endpoint_name!r}")
        return deployment

    def get_deployment(self, workspace: str, endpoint: str, name: str) -> OnlineDeployment:
        with self.engine.connect() as conn:
            row = conn.execute(select(D).where(D.c.workspace == workspace,
                                               D.c.endpoint == endpoint,
                                               D.c.name == name)).first()
        if row is None:
            raise _no_deployment(workspace, endpoint, name)
        return OnlineDeployment.from_dict(dict(row.spec))

    def list_deployments(self, workspace: str | None = None,
                         endpoint: str | None = None) -> list[tuple[str, OnlineDeployment]]:
        q = select(D).order_by(D.c.workspace, D.c.endpoint, D.c.name)
        if workspace is not None:
            q = q.where(D.c.workspace == workspace)
        if endpoint is not None:
            q = q.where(D.c.endpoint == endpoint)
        with self.engine.connect() as conn:
            return [(r.workspace, OnlineDeployment.from_dict(dict(r.spec)))
                    for r in conn.execute(q).all()]

    def update_deployment(self, workspace: str, deployment: OnlineDeployment) -> OnlineDeployment:
        with self.engine.begin() as conn:
            if not conn.execute(update(D).where(
                    D.c.workspace == workspace, D.c.endpoint == deployment.endpoint_name,
                    D.c.name == deployment.name).values(spec=deployment.to_dict())).rowcount:
                raise _no_deployment(workspace, deployment.endpoint_name, deployment.name)
        return deployment

    def delete_deployment(self, workspace: str, endpoint: str, name: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(D).where(D.c.workspace == workspace,
                                                D.c.endpoint == endpoint,
                                                D.c.name == name)).rowcount:
                raise _no_deployment(workspace, endpoint, name)
