"""One module per resource's pages, found by name: each has a ``router`` (made by
``studio_router``) and may list ``NAV`` items for the workspace's side bar."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from ember.errors import EmberError, NotFoundError, PermissionDeniedError


def page_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
            if not info.name.startswith("_")]


class StudioRoute(APIRoute):
    """A page route: an Ember error becomes an error page in the studio's layout (a missing
    job is a 404 page, not a JSON body), and a missing session a redirect to the sign-in
    page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            from ember.server.studio.session import SignInRequired
            try:
                return await handler(request)
            except SignInRequired as need:
                return RedirectResponse(f"/login?next={quote(need.next_url, safe='/')}",
                                        status_code=303)
            except EmberError as exc:
                return _error_page(request, exc)

        return page


def _error_page(request: Request, exc: EmberError) -> Response:
    from ember.server.studio.render import render
    from ember.server.studio.session import Session
    from ember.server.deps import ANONYMOUS
    session = getattr(request.state, "studio_session", None) or Session(
        ANONYMOUS, None, None, "", False)
    platform = request.app.state.platform
    message = platform.public_text(exc.message)
    title = ("Not found" if isinstance(exc, NotFoundError) else
             "Not allowed" if isinstance(exc, PermissionDeniedError) else "Something went wrong")
    return render(request, session, "error.html", status_code=exc.http_status, title=title,
                  message=message, code=exc.code)


def studio_router() -> APIRouter:
    return APIRouter(route_class=StudioRoute)
