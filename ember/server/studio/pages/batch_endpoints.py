"""A batch endpoint's page (``/ws/<ws>/batch-endpoints/<name>``): its deployments and its jobs
(each invocation is a job, opened at ``/ws/<ws>/jobs/<job>``)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.server.studio.api import StudioApi, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.pages._endpoint_common import q
from ember.server.studio.render import render
from ember.server.studio.session import Session, page_session

router = studio_router()


@router.get("/ws/{workspace}/batch-endpoints/{name}")
async def batch_endpoint(request: Request, workspace: str, name: str,
                         session: Session = Depends(page_session),
                         api: StudioApi = Depends(studio_api)) -> Response:
    path = f"/batch-endpoints/{q(name)}"
    endpoint = await api.get(api.ws(path))
    deployments = await api.get(api.ws(path + "/deployments"))
    jobs = await api.get(api.ws(path + "/jobs"))
    jobs.sort(key=lambda j: j.get("creation_time") or 0, reverse=True)
    return render(request, session, "endpoints/batch.html", title=name, endpoint=endpoint,
                  deployments=deployments, jobs=jobs)
