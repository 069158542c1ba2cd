"""The start page: the caller's workspaces (``/``), and a workspace's own URL."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from ember.entities.workspaces import DEFAULT_WORKSPACE
from ember.server.studio.api import API, StudioApi, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.render import render
from ember.server.studio.session import Session, page_session

router = studio_router()


@router.get("/")
async def home(request: Request, session: Session = Depends(page_session),
               api: StudioApi = Depends(studio_api)) -> Response:
    workspaces = await api.get(f"{API}/workspaces")
    names = [w["name"] for w in workspaces]
    if DEFAULT_WORKSPACE in names or len(names) == 1:
        only = DEFAULT_WORKSPACE if DEFAULT_WORKSPACE in names else names[0]
        if request.query_params.get("all") is None:
            return RedirectResponse(f"/ws/{quote(only, safe='')}/jobs", status_code=303)
    return render(request, session, "workspaces.html", title="Workspaces",
                  workspaces=workspaces)


@router.get("/ws/{workspace}")
async def workspace_home(workspace: str, session: Session = Depends(page_session)) -> Response:
    return RedirectResponse(f"/ws/{quote(workspace, safe='')}/jobs", status_code=303)
