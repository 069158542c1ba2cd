"""The endpoints list (``/ws/<ws>/endpoints``): online, serverless and batch endpoints."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.server.studio.api import StudioApi, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, page_session

router = studio_router()
NAV = [NavItem("Endpoints", "/endpoints", 50,
               also=("/batch-endpoints", "/serverless-endpoints"))]


@router.get("/ws/{workspace}/endpoints")
async def endpoint_list(request: Request, workspace: str,
                        session: Session = Depends(page_session),
                        api: StudioApi = Depends(studio_api)) -> Response:
    online = await api.get(api.ws("/online-endpoints"))
    serverless = await api.get(api.ws("/serverless-endpoints"))
    batch = await api.get(api.ws("/batch-endpoints"))
    return render(request, session, "endpoints/list.html", title="Endpoints", online=online,
                  serverless=serverless, batch=batch)
