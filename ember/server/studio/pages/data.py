"""The data asset pages: the list (``/ws/<ws>/data``), an asset's versions
(``/data/<name>``) and a version (``/data/<name>/<version>``: its details, its files and the
first rows of a CSV, TSV or Parquet file; ``?file=<path>`` picks the file)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.errors import EmberError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.pages._assets import latest_by_name, tag_matches
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, page_session

router = studio_router()
NAV = [NavItem("Data", "/data", 40)]
PREVIEW_ROWS = 20
DATASTORE = re.compile(r"^azureml://datastores/([^/]+)/paths/")


@router.get("/ws/{workspace}/data")
async def data_list(request: Request, workspace: str, q: str = "", tag: str = "",
                    session: Session = Depends(page_session),
                    api: StudioApi = Depends(studio_api)) -> Response:
    assets = [a for a in latest_by_name(await api.get(api.ws("/data")))
              if (not q or q.strip().lower() in a["name"].lower())
              and tag_matches(a["tags"], tag.strip())]
    return render(request, session, "data/list.html", title="Data", assets=assets, q=q,
                  tag=tag)


@router.get("/ws/{workspace}/data/{name}")
async def data_versions(request: Request, workspace: str, name: str,
                        session: Session = Depends(page_session),
                        api: StudioApi = Depends(studio_api)) -> Response:
    versions = await api.get(api.ws("/data"), name=name)
    if not versions:   # the API's own 404 for an unknown name
        await api.get(api.ws(f"/data/{quote(name)}"))
    versions.sort(key=lambda v: -(v.get("creation_time") or 0))
    return render(request, session, "data/versions.html", title=f"Data {name}", name=name,
                  versions=versions)


@router.get("/ws/{workspace}/data/{name}/{version}")
async def data_version(request: Request, workspace: str, name: str, version: str,
                       file: str = "", session: Session = Depends(page_session),
                       api: StudioApi = Depends(studio_api)) -> Response:
    asset = await api.get(api.ws(f"/data/{quote(name)}"), version=version)
    base = api.ws(f"/data/{quote(name)}/versions/{quote(version)}")
    preview: dict[str, Any] = {"path": "", "columns": [], "note": "", "files": [],
                               "file_count": 0}
    error = ""
    try:
        params = {"rows": PREVIEW_ROWS, **({"path": file} if file else {})}
        preview = await api.request("GET", f"{base}/preview", params=params)
    except EmberError as exc:   # the details still show; the preview says what went wrong
        error = exc.message
        try:   # a bad ?file= still lists the asset's files to pick from
            listed = await api.get(f"{base}/files")
            preview.update(files=listed["files"], file_count=listed["count"])
        except EmberError:
            pass
    found = DATASTORE.match(asset["path"])
    return render(request, session, "data/detail.html", title=f"Data {name}:{version}",
                  asset=asset, preview=preview, error=error,
                  datastore=found.group(1) if found else "", files_url=f"{base}/files")
