from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.data import DataIn, DataOut

router = APIRouter(tags=["data"])


@router.post("/data", status_code=201)
def create_data(body: DataIn, ctx: WorkspaceContext = Depends(check_access)) -> DataOut:
    return DataOut.of(ctx.platform.data.create(ctx.name, body.entity()))


@router.get("/data")
def list_data(name: str | None = None,
              ctx: WorkspaceContext = Depends(check_access)) -> list[DataOut]:
    return [DataOut.of(d) for d in ctx.platform.data.list(ctx.name, name)]


@router.get("/data/{name}")
def get_data(name: str, version: str | None = None,
             ctx: WorkspaceContext = Depends(check_access)) -> DataOut:
    return DataOut.of(ctx.platform.data.get(ctx.name, name, version))
