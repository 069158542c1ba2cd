from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.datastores import DatastoreIn, DatastoreOut

router = APIRouter(tags=["datastores"])


@router.get("/datastores")
def list_datastores(ctx: WorkspaceContext = Depends(check_access)) -> list[DatastoreOut]:
    return [DatastoreOut.of(d) for d in ctx.platform.datastores.list(ctx.name)]


@router.put("/datastores/{name}")
def put_datastore(name: str, body: DatastoreIn,
                  ctx: WorkspaceContext = Depends(check_access)) -> DatastoreOut:
    body.name = name
    return DatastoreOut.of(ctx.platform.datastores.create_or_update(ctx.name, body.entity()))


@router.get("/datastores/{name}")
def get_datastore(name: str, ctx: WorkspaceContext = Depends(check_access)) -> DatastoreOut:
    return DatastoreOut.of(ctx.platform.datastores.get(ctx.name, name))
