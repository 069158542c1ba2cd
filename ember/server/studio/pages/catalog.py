"""The model catalog pages: the built-in ``azureml`` registry's models as cards
(``/ws/<ws>/catalog``), a model's card (``/ws/<ws>/catalog/<model>``), and the Deploy and
Fine-tune forms (``.../deploy?kind=serverless|online``, ``.../finetune``) that show the YAML the
CLI takes as the form changes and submit the same thing through the REST API (the page's
script, ``static/catalog.js``)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.server.studio.api import API, StudioApi, quote, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, may, page_session

router = studio_router()
NAV = [NavItem("Model catalog", "/catalog", 60)]
REGISTRY = "azureml"
DEPLOY_KINDS = ("serverless", "online")


def card(model: dict[str, Any]) -> dict[str, Any]:
    """The facts a card shows, from the model's catalog tags and properties."""
    tags = model.get("tags") or {}
    runtimes = [r for r in (tags.get("inference_supported_envs") or "").split(",") if r]
    return {
        "name": model["name"], "version": model["version"],
        "display_name": tags.get("displayName") or model["name"],
        "task": tags.get("task", ""), "parameters": tags.get("parameters", ""),
        "context": tags.get("textContextWindow", ""), "license": tags.get("license", ""),
        "license_note": tags.get("licenseDescription", ""),
        "author": tags.get("author", ""), "runtimes": runtimes,
        "quantization": tags.get("quantization", ""),
        "summary": tags.get("summary", ""), "description": model.get("description", ""),
        "fine_tunable": tags.get("fine-tunable") == "true",
        "huggingface_id": tags.get("huggingface_id", ""), "package": tags.get("package", ""),
        "model_id": f"azureml://registries/{REGISTRY}/models/{model['name']}",
        "reference": f"azureml://registries/{REGISTRY}/models/{model['name']}/versions/"
                     f"{model['version']}",
        "tags": tags, "properties": model.get("properties") or {},
        "endpoint_name": model["name"].lower().replace(".", "-")[:24].rstrip("-") + "-ep",
    }


async def _model(api: StudioApi, name: str) -> dict[str, Any]:
    return card(await api.get(f"{API}/registries/{REGISTRY}/models/{quote(name)}"))


@router.get("/ws/{workspace}/catalog")
async def catalog(request: Request, workspace: str, session: Session = Depends(page_session),
                  api: StudioApi = Depends(studio_api)) -> Response:
    models = await api.get(f"{API}/registries/{REGISTRY}/models")
    return render(request, session, "catalog/list.html", title="Model catalog",
                  models=[card(m) for m in models],
                  can_write=may(request, session, workspace, "write"))


@router.get("/ws/{workspace}/catalog/{model}")
async def model_card(request: Request, workspace: str, model: str,
                     session: Session = Depends(page_session),
                     api: StudioApi = Depends(studio_api)) -> Response:
    found = await _model(api, model)
    return render(request, session, "catalog/model.html", title=found["name"], model=found,
                  can_write=may(request, session, workspace, "write"))


@router.get("/ws/{workspace}/catalog/{model}/deploy")
async def deploy_form(request: Request, workspace: str, model: str, kind: str = "serverless",
                      session: Session = Depends(page_session),
                      api: StudioApi = Depends(studio_api)) -> Response:
    found = await _model(api, model)
    kind = kind if kind in DEPLOY_KINDS else "serverless"
    return render(request, session, "catalog/deploy.html", title=f"Deploy {found['name']}",
                  model=found, kind=kind, can_write=may(request, session, workspace, "write"))


@router.get("/ws/{workspace}/catalog/{model}/finetune")
async def finetune_form(request: Request, workspace: str, model: str,
                        session: Session = Depends(page_session),
                        api: StudioApi = Depends(studio_api)) -> Response:
    found = await _model(api, model)
    data = await api.get(api.ws("/data"))
    assets = [{"id": d["id"], "name": d["name"], "version": d["version"], "type": d["type"]}
              for d in data if d.get("type") == "uri_file"]
    return render(request, session, "catalog/finetune.html", title=f"Fine-tune {found['name']}",
                  model=found, assets=assets, can_write=may(request, session, workspace, "write"))
