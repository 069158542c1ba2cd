from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response, StreamingResponse

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.base import BINARY_RESPONSE
from ember.server.schemas.data import (
    DataFileOut, DataFilesOut, DataIn, DataOut, DataPreviewOut)

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


@router.get("/data/{name}/versions/{version}/files")
def list_data_files(name: str, version: str,
                    ctx: WorkspaceContext = Depends(check_access)) -> DataFilesOut:
    """The asset's files (the first 1000), paths relative to its path; an asset outside the
    workspace's datastores (https://...) answers 400."""
    files, count = ctx.platform.data.files(ctx.name, name, version)
    return DataFilesOut(files=[DataFileOut.of(f) for f in files], count=count)


@router.get("/data/{name}/versions/{version}/files/{path:path}", response_class=Response,
            responses=BINARY_RESPONSE)
def download_data_file(name: str, version: str, path: str,
                       ctx: WorkspaceContext = Depends(check_access)) -> Response:
    """One file of the asset; ``path`` is relative to the asset's path and cannot leave it."""
    store, target = ctx.platform.data.file_location(ctx.name, name, version, path)
    local = store.local_path(target)
    if local is not None:
        return FileResponse(local, media_type="application/octet-stream")

    def chunks():  # type: ignore[no-untyped-def]
        with store.open_read(target) as fh:
            while chunk := fh.read(1 << 20):
                yield chunk
    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.get("/data/{name}/versions/{version}/preview")
def preview_data(name: str, version: str, path: str | None = None, rows: int = 20,
                 ctx: WorkspaceContext = Depends(check_access)) -> DataPreviewOut:
    """The first ``rows`` rows (at most 200) of a CSV, TSV or Parquet file of the asset:
    ``path`` (relative to the asset's path), else the file itself, the MLTable's first file
    or the folder's first tabular file. Only a bounded head of the file is read."""
    return DataPreviewOut.of(ctx.platform.data.preview(ctx.name, name, version, path, rows))
