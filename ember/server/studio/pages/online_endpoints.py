"""An online endpoint's pages (``/ws/<ws>/endpoints/<name>[/<tab>]``): Details (deployments,
traffic and mirror, editable), Metrics (live charts; token usage for a language model), Logs
(a deployment's), Test (send a request as the caller), Consume (scoring URI, code, keys on
click), and Playground (a streaming chat) when a deployment serves a language model."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.errors import NotFoundError
from ember.server.studio.api import StudioApi, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.pages._endpoint_common import (
    chat_snippets,
    model_name,
    q,
    scoring_snippets,
    tabs,
)
from ember.server.studio.render import render
from ember.server.studio.session import Session, may, page_session

router = studio_router()
TABS = [("details", "Details"), ("metrics", "Metrics"), ("logs", "Logs"), ("test", "Test"),
        ("consume", "Consume"), ("playground", "Playground")]
SAMPLE = {"data": [1, 2, 3]}
# a language model's scoring request (Azure's text-generation input) for the Test tab
LLM_SAMPLE = {"input_data": {"input_string": ["Hello"], "parameters": {"max_new_tokens": 16}}}
LOG_LINES = (100, 500, 2000)


@router.get("/ws/{workspace}/endpoints/{name}")
async def endpoint_details(request: Request, workspace: str, name: str,
                           session: Session = Depends(page_session),
                           api: StudioApi = Depends(studio_api)) -> Response:
    return await _page(request, workspace, name, "details", session, api)


@router.get("/ws/{workspace}/endpoints/{name}/{tab}")
async def endpoint_tab(request: Request, workspace: str, name: str, tab: str,
                       session: Session = Depends(page_session),
                       api: StudioApi = Depends(studio_api)) -> Response:
    if tab not in dict(TABS) or tab == "details":
        raise NotFoundError(f"online endpoint pages have no tab {tab!r} (tabs: "
                            f"{', '.join(k for k, _ in TABS)})")
    return await _page(request, workspace, name, tab, session, api)


async def _page(request: Request, workspace: str, name: str, tab: str, session: Session,
                api: StudioApi) -> Response:
    path = f"/online-endpoints/{q(name)}"
    endpoint = await api.get(api.ws(path))
    deployments = await api.get(api.ws(path + "/deployments"))
    # the model a chat names: the first running language-model deployment's
    chat_model = next((model_name(d.get("model") or "") for d in deployments
                       if d.get("serves") == "language_model"), "")
    context: dict[str, Any] = {"chat_model": chat_model, "usage": {}}
    if tab == "details":
        context["may_edit"] = may(request, session, workspace, "write")
    elif tab == "metrics":
        context["metrics"] = await api.get(api.ws(path + "/metrics"))
        if chat_model:
            context["usage"] = await api.get(api.ws(path + "/usage"))
    elif tab == "logs":
        context.update(await _logs(request, api, path, deployments))
    elif tab == "test":
        context["may_invoke"] = may(request, session, workspace, "secrets")
        context["sample"] = LLM_SAMPLE if chat_model else SAMPLE
    elif tab == "consume":
        context["may_reveal"] = may(request, session, workspace, "secrets")
        context["snippets"] = scoring_snippets(endpoint["scoring_uri"],
                                               LLM_SAMPLE if chat_model else SAMPLE)
        if chat_model:
            base_url = endpoint["scoring_uri"].removesuffix("/score") + "/v1"
            context["chat_snippets"] = chat_snippets(base_url, chat_model)
    elif tab == "playground":
        context["may_invoke"] = may(request, session, workspace, "secrets")
    shown = [t for t in TABS if t[0] != "playground" or chat_model or tab == "playground"]
    base = f"/ws/{q(workspace)}/endpoints/{q(name)}"
    return render(request, session, f"endpoints/online_{tab}.html",
                  title=f"{name} · {dict(TABS)[tab]}", endpoint=endpoint,
                  deployments=deployments, tab=tab, tabs=tabs(base, shown), **context)


async def _logs(request: Request, api: StudioApi, path: str,
                deployments: list[dict[str, Any]]) -> dict[str, Any]:
    names = [d["name"] for d in deployments]
    chosen = request.query_params.get("deployment") or (names[0] if names else "")
    try:
        lines = int(request.query_params.get("lines", LOG_LINES[0]))
    except ValueError:
        lines = LOG_LINES[0]
    text = ""
    if chosen:
        found = await api.get(api.ws(f"{path}/deployments/{q(chosen)}/logs"), lines=lines)
        text = found.decode("utf-8", "replace") if isinstance(found, bytes) else str(found)
    return {"chosen": chosen, "lines": lines, "line_choices": LOG_LINES, "log_text": text}
