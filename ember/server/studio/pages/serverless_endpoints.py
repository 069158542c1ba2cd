"""A serverless (language-model) endpoint's pages (``/ws/<ws>/serverless-endpoints/<name>
[/<tab>]``): Details (model, limits, token usage charts), Playground (a chat that streams,
sent as the caller) and Consume (the OpenAI base URL, code, keys on click)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.errors import NotFoundError
from ember.server.studio.api import StudioApi, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.pages._endpoint_common import chat_snippets, model_name, q, tabs
from ember.server.studio.render import render
from ember.server.studio.session import Session, may, page_session

router = studio_router()
TABS = [("details", "Details"), ("playground", "Playground"), ("consume", "Consume")]


@router.get("/ws/{workspace}/serverless-endpoints/{name}")
async def serverless_details(request: Request, workspace: str, name: str,
                             session: Session = Depends(page_session),
                             api: StudioApi = Depends(studio_api)) -> Response:
    return await _page(request, workspace, name, "details", session, api)


@router.get("/ws/{workspace}/serverless-endpoints/{name}/{tab}")
async def serverless_tab(request: Request, workspace: str, name: str, tab: str,
                         session: Session = Depends(page_session),
                         api: StudioApi = Depends(studio_api)) -> Response:
    if tab not in dict(TABS) or tab == "details":
        raise NotFoundError(f"serverless endpoint pages have no tab {tab!r} (tabs: "
                            f"{', '.join(k for k, _ in TABS)})")
    return await _page(request, workspace, name, tab, session, api)


async def _page(request: Request, workspace: str, name: str, tab: str, session: Session,
                api: StudioApi) -> Response:
    endpoint = await api.get(api.ws(f"/serverless-endpoints/{q(name)}"))
    chat_model = model_name(str(endpoint.get("model") or endpoint.get("model_id") or ""))
    context: dict[str, Any] = {"chat_model": chat_model}
    if tab == "playground":
        context["may_invoke"] = may(request, session, workspace, "secrets")
    elif tab == "consume":
        context["may_reveal"] = may(request, session, workspace, "secrets")
        context["snippets"] = chat_snippets(endpoint["openai_base_url"], chat_model)
    base = f"/ws/{q(workspace)}/serverless-endpoints/{q(name)}"
    return render(request, session, f"endpoints/serverless_{tab}.html",
                  title=f"{name} · {dict(TABS)[tab]}", endpoint=endpoint, tab=tab,
                  tabs=tabs(base, TABS), **context)
