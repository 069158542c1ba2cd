"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``): PUT, GET, DELETE, list.

Uploads stream the request body to the store in 1 MiB writes; downloads stream from it.
Multipart upload (``mpu/*``) is not offered: server-info says so and the client does not ask.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from ember.entities.auth import WRITE
from ember.server.deps import TRACKING, WorkspaceContext, check_access, declare
from ember.server.routes.mlflow_tracking import ok
from ember.server.run_access import check_artifact_write
from ember.server.schemas.base import ANY_FILE_RESPONSE

router = APIRouter(tags=["mlflow-artifacts"])
A = "/api/2.0/mlflow-artifacts/artifacts"
_WRITE_SIZE = 1 << 20


@router.put(A + "/{path:path}", **declare(WRITE, workload=TRACKING))
async def upload_artifact(path: str, request: Request,
                          ctx: WorkspaceContext = Depends(check_access)) -> Response:
    await check_artifact_write(ctx, path)
    upload = await ctx.run(ctx.platform.tracking.start_artifact_upload, ctx.name, path)
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= _WRITE_SIZE:
                await ctx.run(upload.write, bytes(pending))
                pending.clear()
        if pending:
            await ctx.run(upload.write, bytes(pending))
        await ctx.run(upload.commit)
    except BaseException:
        await ctx.run(upload.abort)
        raise
    return ok()


@router.get(A + "/{path:path}", response_class=Response, responses=ANY_FILE_RESPONSE)
async def download_artifact(path: str,
                            ctx: WorkspaceContext = Depends(check_access)) -> Response:
    found = await ctx.run(ctx.platform.tracking.artifact_download, ctx.name, path)
    if found.local_path is not None:
        return FileResponse(found.local_path, media_type=found.media_type)
    assert found.chunks is not None
    return StreamingResponse(found.chunks, media_type=found.media_type)


@router.delete(A + "/{path:path}")
async def delete_artifact(path: str, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    await ctx.run(ctx.platform.tracking.delete_mlflow_artifact, ctx.name, path)
    return ok()


@router.get(A)
async def list_artifacts(request: Request,
                         ctx: WorkspaceContext = Depends(check_access)) -> Response:
    files = await ctx.run(ctx.platform.tracking.list_mlflow_artifacts, ctx.name,
                       request.query_params.get("path") or "")
    return ok({"files": [
        {"path": f.path, "is_dir": f.is_dir, **({} if f.is_dir else {"file_size": f.file_size})}
        for f in files]})
