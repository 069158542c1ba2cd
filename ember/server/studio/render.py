"""Rendering a studio page: one Jinja2 environment, the layout's context, the headers.

Pages are rendered on the server; their scripts are our own files under ``static/``, loaded
from this server (no inline script: the Content-Security-Policy allows only ``'self'``). A
page hands its script data as JSON in ``<script type="application/json">`` blocks
(``page_data``), which the browser never executes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from ember import __version__
from ember.server.studio.session import Session

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class NavItem:
    """A link of the workspace's side bar: ``path`` below ``/ws/<workspace>``; it is the
    current page's link under ``path`` and under each of ``also``."""

    label: str
    path: str
    order: int
    also: tuple[str, ...] = ()

    def current(self, workspace_prefix: str, page: str) -> bool:
        return any(page == workspace_prefix + p or page.startswith(workspace_prefix + p + "/")
                   for p in (self.path, *self.also))


_NAV: list[NavItem] = []


def add_nav(item: NavItem) -> None:
    if item not in _NAV:
        _NAV.append(item)
        _NAV.sort(key=lambda n: n.order)


def _json_script(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` escaped
    so no string can close the element."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ember.server.studio", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["json_script"] = _json_script
    from ember.server.studio import formats
    env.filters.update(formats.FILTERS)
    return env


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


def render(request: Request, session: Session, template: str, *, status_code: int = 200,
           title: str = "", **context: Any) -> HTMLResponse:
    """The page ``template`` in the studio's layout."""
    workspace = request.path_params.get("workspace")
    page = environment().get_template(template).render(
        request=request, session=session, workspace=workspace, nav=list(_NAV),
        title=title, version=__version__, path=request.url.path,
        static=static_url, **context)
    return HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)


def static_url(name: str) -> str:
    """A static file's URL, versioned so it can be cached for good."""
    if name == "plotly.js":
        from ember.server.studio.static_files import plotly_url
        return plotly_url()
    return f"/static/studio/{__version__}/{name}"
