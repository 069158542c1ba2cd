"""The jobs pages: the list (``/ws/<ws>/jobs``)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.server.studio.api import StudioApi, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, page_session

router = studio_router()
NAV = [NavItem("Jobs", "/jobs", 10)]


@router.get("/ws/{workspace}/jobs")
async def job_list(request: Request, workspace: str, session: Session = Depends(page_session),
                   api: StudioApi = Depends(studio_api)) -> Response:
    jobs = await api.get(api.ws("/jobs"), max_results=50)
    return render(request, session, "jobs/list.html", title="Jobs", jobs=jobs)
