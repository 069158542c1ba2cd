"""The studio: Ember's web UI, served by the workspace server at ``/``.

Server-rendered pages (``pages/<resource>.py`` + ``templates/``), small scripts of our own
(``static/``), charts drawn by plotly.js from the ``plotly`` package. Every page reads the
REST API the SDK uses, in process, as the signed-in caller (``api.py``); its scripts call the
same API from the browser with the session cookie and its CSRF token
(``server/session_cookie.py``). Pages live under stable URLs: ``/ws/<workspace>/<resource>/...``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ember.server.studio import static_files
from ember.server.studio.pages import page_modules
from ember.server.studio.render import add_nav
from ember.server.studio.session import page_session

# the studio routes open to everyone: signing in and out (sign-out checks the session and its
# CSRF token itself), and the static files (no data)
PUBLIC_PATHS = frozenset({"/login", "/logout", "/static/studio/{version}/{name}",
                          "/static/{name}", "/favicon.ico"})
CHECKS = (page_session,)


def install(app: FastAPI) -> None:
    """Add the studio's routes to ``app``."""

    @app.get("/static/studio/{version}/{name}", include_in_schema=False)
    def studio_static(request: Request, version: str, name: str) -> Response:
        return static_files.serve(request, name)

    @app.get("/static/{name}", include_in_schema=False)
    def plotly_js(request: Request, name: str) -> Response:
        if not (name.startswith("plotly-") and name.endswith(".min.js")):
            return Response(status_code=404)
        return static_files.serve(request, "plotly.min.js")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon(request: Request) -> Response:
        return static_files.serve(request, "favicon.svg")

    for module in page_modules():
        app.include_router(module.router, include_in_schema=False)
        for item in getattr(module, "NAV", ()):
            add_nav(item)
