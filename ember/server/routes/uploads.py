"""Content-addressed uploads (code snapshots, local inputs) as tar.gz bodies."""

from __future__ import annotations

import tempfile

from fastapi import APIRouter, Depends, Request

from ember.server.deps import RegistryContext, WorkspaceContext, check_access, check_registry
from ember.server.schemas.uploads import UploadOut
from ember.services.uploads import upload_uri

router = APIRouter(tags=["uploads"])
# a user registry's uploads (the files of its models and its components' code)
registry_router = APIRouter(tags=["uploads"], dependencies=[Depends(check_registry)])


@router.get("/uploads/{kind}/{digest}")
def get_upload(kind: str, digest: str,
               ctx: WorkspaceContext = Depends(check_access)) -> UploadOut:
    exists = ctx.platform.uploads.exists(ctx.name, kind, digest)
    return UploadOut(uri=upload_uri(kind, digest), exists=exists)


@router.put("/uploads/{kind}/{digest}")
async def put_upload(kind: str, digest: str, request: Request,
                     ctx: WorkspaceContext = Depends(check_access)) -> UploadOut:
    
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as buf:
        async for chunk in request.stream():
            buf.write(chunk)
        buf.seek(0)
        uri = await ctx.run(ctx.platform.uploads.put_tar, ctx.name, kind, digest, buf)
    return UploadOut(uri=uri, exists=True)


@registry_router.get("/registries/{registry}/uploads/{kind}/{digest}")
def get_registry_upload(kind: str, digest: str,
                        ctx: RegistryContext = Depends(check_registry)) -> UploadOut:
    ws = ctx.platform.registries.workspace_of(ctx.registry)
    return UploadOut(uri=upload_uri(kind, digest),
                     exists=ctx.platform.uploads.exists(ws, kind, digest))


@registry_router.put("/registries/{registry}/uploads/{kind}/{digest}")
async def put_registry_upload(kind: str, digest: str, request: Request,
                              ctx: RegistryContext = Depends(check_registry)) -> UploadOut:
    ws = ctx.platform.registries.workspace_of(ctx.registry)
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as buf:
        async for chunk in request.stream():
            buf.write(chunk)
        buf.seek(0)
        uri = await ctx.run(ctx.platform.uploads.put_tar, ws, kind, digest, buf)
    return UploadOut(uri=uri, exists=True)
