"""The studio's static files: our own scripts and styles (``static/``), and plotly.js from the
``plotly`` package's own bundled file (nothing from a CDN, no copy in this repository).

URLs carry a version, so a browser keeps each file for good and fetches it once per release;
files are sent gzip-compressed to browsers that accept it (plotly.js: 4.8 MB, 1.4 MB as gzip),
compressed once per process.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
from importlib import resources
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

from ember import __version__
from ember.errors import NotFoundError

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml"}
_FOREVER = "public, max-age=31536000, immutable"


@functools.cache
def _plotly_file() -> Path:
    try:
        import plotly
    except ImportError:  # a dependency of the package: only a broken install lacks it
        raise NotFoundError("plotly is not installed: the studio's charts need it "
                            "(pip install plotly)") from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise NotFoundError(f"the plotly package has no bundled plotly.js at {path}")
    return path


def plotly_url() -> str:
    import plotly
    return f"/static/plotly-{plotly.__version__}.min.js"


@functools.cache
def _load(name: str) -> tuple[bytes, bytes, str]:
    """``(content, gzip of it, ETag)`` of a static file."""
    if name == "plotly.min.js":
        data = _plotly_file().read_bytes()
    else:
        if "/" in name or "\\" in name or name.startswith("."):
            raise NotFoundError(f"the studio has no file {name!r}")
        ref = resources.files("ember.server.studio").joinpath("static", name)
        if not ref.is_file():
            raise NotFoundError(f"the studio has no file {name!r}")
        data = ref.read_bytes()
    etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
    return data, gzip.compress(data, 6, mtime=0), etag


def serve(request: Request, name: str) -> Response:
    data, packed, etag = _load(name)
    headers = {"cache-control": _FOREVER, "etag": etag, "vary": "accept-encoding",
               "x-content-type-options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    kind = _TYPES.get(Path(name).suffix) or mimetypes.guess_type(name)[0] or \
        "application/octet-stream"
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(packed, media_type=kind, headers=headers)
    return Response(data, media_type=kind, headers=headers)


def version() -> str:
    return __version__
