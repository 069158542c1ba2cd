"""The model pages: the list (``/ws/<ws>/models``, filtered by name and tag, archived models
on request), a model's versions (``/models/<name>``), a version (``/models/<name>/<version>``:
its lineage, files, MLmodel signature; ``?file=<path>`` shows one file), and the form that
registers a model from a job's output (``/register-model?job=<job>``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote as urlquote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from ember.entities.auth import WRITE
from ember.entities.models import MODEL_TYPES
from ember.errors import EmberError, InvalidInputError, NotFoundError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.forms import check_csrf, read_form
from ember.server.studio.pages import studio_router
from ember.server.studio.pages._assets import (
    MAX_TEXT_BYTES, as_text, latest_by_name, mlmodel_signature, tag_matches)
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, may, page_session

router = studio_router()
NAV = [NavItem("Models", "/models", 30, also=("/register-model",))]
REGISTER_FIELDS = ("job", "output", "path", "name", "type", "description")


@router.get("/ws/{workspace}/models")
async def model_list(request: Request, workspace: str, q: str = "", tag: str = "",
                     archived: str = "", session: Session = Depends(page_session),
                     api: StudioApi = Depends(studio_api)) -> Response:
    show_archived = archived in ("1", "on", "true")
    versions = await api.get(api.ws("/models"), include_archived=show_archived)
    models = []
    for row in latest_by_name(versions, key="version"):
        if q and q.strip().lower() not in row["name"].lower():
            continue
        if not tag_matches(row["tags"], tag.strip()):
            continue
        models.append(row)
    return render(request, session, "models/list.html", title="Models", models=models,
                  q=q, tag=tag, show_archived=show_archived,
                  can_write=may(request, session, workspace, WRITE))


@router.get("/ws/{workspace}/register-model")
async def register_page(request: Request, workspace: str, job: str = "",
                        session: Session = Depends(page_session),
                        api: StudioApi = Depends(studio_api)) -> Response:
    return await _register_form(request, workspace, session, api, {"job": job})


async def _register_form(request: Request, workspace: str, session: Session, api: StudioApi,
                         values: dict[str, str], error: str = "",
                         status_code: int = 200) -> Response:
    jobs = await api.get(api.ws("/jobs"), max_results=50)
    filled = {k: values.get(k, "") for k in REGISTER_FIELDS}
    filled["type"] = filled["type"] or "custom_model"
    return render(request, session, "models/register.html", title="Register a model",
                  status_code=status_code, values=filled, error=error, types=MODEL_TYPES,
                  jobs=[j["name"] for j in jobs],
                  can_write=may(request, session, workspace, WRITE))


def job_output_uri(job: str, output: str, path: str) -> str:
    """``azureml://jobs/<job>/outputs/<output>[/paths/<path>]``, what ``ember model create
    --path`` takes; ``output`` may also be such a URI already."""
    if output.startswith("azureml://"):
        return output
    if not job or not output:
        raise InvalidInputError("give the job's name and the name of its output")
    uri = f"azureml://jobs/{job}/outputs/{output}"
    return f"{uri}/paths/{path.strip('/')}" if path.strip("/") else uri


@router.post("/ws/{workspace}/register-model")
async def register(request: Request, workspace: str, session: Session = Depends(page_session),
                   api: StudioApi = Depends(studio_api)) -> Response:
    form = await read_form(request)
    check_csrf(form, session.csrf)
    values = {k: form.get(k, "").strip() for k in REGISTER_FIELDS}
    try:
        if not values["name"]:
            raise InvalidInputError("give the model a name")
        made = await api.post(api.ws("/models"), json={
            "name": values["name"], "type": values["type"] or "custom_model",
            "description": values["description"],
            "path": job_output_uri(values["job"], values["output"], values["path"])})
    except EmberError as exc:
        return await _register_form(request, workspace, session, api, values,
                                    error=exc.message, status_code=exc.http_status)
    return RedirectResponse(_version_url(workspace, made["name"], made["version"]),
                            status_code=303)


def _version_url(workspace: str, name: str, version: Any) -> str:
    return f"/ws/{urlquote(workspace, safe='')}/models/{urlquote(name, safe='')}/{version}"


@router.get("/ws/{workspace}/models/{name}")
async def model_versions(request: Request, workspace: str, name: str,
                         session: Session = Depends(page_session),
                         api: StudioApi = Depends(studio_api)) -> Response:
    versions = await api.get(api.ws("/models"), name=name, include_archived=True)
    if not versions:   # the API's own 404 for an unknown name
        await api.get(api.ws(f"/models/{quote(name)}"))
    versions.sort(key=lambda v: -int(v["version"]))
    return render(request, session, "models/versions.html", title=f"Model {name}", name=name,
                  versions=versions, can_write=may(request, session, workspace, WRITE))


@router.get("/ws/{workspace}/models/{name}/{version}")
async def model_version(request: Request, workspace: str, name: str, version: str,
                        file: str = "", session: Session = Depends(page_session),
                        api: StudioApi = Depends(studio_api)) -> Response:
    model = await api.get(api.ws(f"/models/{quote(name)}"), version=version)
    files_url = api.ws(f"/models/{quote(name)}/versions/{quote(version)}/files")
    files = await api.get(files_url)
    signature = None
    if model["type"] == "mlflow_model" and any(f["path"] == "MLmodel" for f in files):
        text = as_text(await api.get(f"{files_url}/MLmodel"))
        signature = mlmodel_signature(text) if text else None
    shown = None
    if file:
        shown = await _file_view(api, files_url, files, file)
    return render(request, session, "models/detail.html", title=f"Model {name}:{version}",
                  model=model, files=files, signature=signature, shown=shown,
                  producer_is_job=await _is_job(api, model["job_name"]),
                  files_url=files_url, can_write=may(request, session, workspace, WRITE))


async def _is_job(api: StudioApi, name: str) -> bool:
    """Whether the producing run is a job of the workspace (a run logged by an MLflow client
    outside a job has no job page)."""
    if not name:
        return False
    try:
        await api.get(api.ws(f"/jobs/{quote(name)}"))
    except NotFoundError:
        return False
    return True


async def _file_view(api: StudioApi, files_url: str, files: list[dict[str, Any]],
                     path: str) -> dict[str, Any]:
    """One file for display: its text, or why it is not shown."""
    entry = next((f for f in files if f["path"] == path), None)
    view: dict[str, Any] = {"path": path, "text": None, "note": ""}
    if entry is None:
        view["note"] = f"This model version has no file {path!r}."
    elif (entry.get("size") or 0) > MAX_TEXT_BYTES:
        view["note"] = "This file is too large to show here: download it."
    else:
        text = as_text(await api.get(f"{files_url}/{quote_path(path)}"))
        if text is None:
            view["note"] = "This is a binary file: download it."
        elif path.lower().endswith(".json"):
            try:
                text = json.dumps(json.loads(text), indent=2)
            except ValueError:
                pass   # shown as it is
        view["text"] = text
    return view


def quote_path(path: str) -> str:
    return urlquote(path, safe="/")
