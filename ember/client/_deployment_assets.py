"""What online and batch deployments send alike: an inline model registered first, the code
folder uploaded, an inline environment as plain JSON."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ember.client.http import Http
from ember.client.models import ModelOperations
from ember.client.uploads import upload
from ember.entities.online_endpoints import CodeConfiguration
from ember.entities.environments import Environment
from ember.entities.models import Model


def deployment_assets(http: Http, models: ModelOperations, model: str | Model,
                      code: CodeConfiguration | None, environment: str | Environment | None,
                      show_progress: bool | None) -> dict[str, Any]:
    """The ``model``, ``code_configuration`` and ``environment`` fields of a deployment body."""
    if isinstance(model, Model):
        registered = models.create_or_update(model, show_progress)
        model = f"azureml:{registered.name}:{registered.version}"
    code_body = None
    if code is not None:
        code_body = asdict(code)
        if not code_body["code"].startswith("codes/"):
            code_body["code"] = upload(http, "code", Path(code_body["code"]), "code",
                                       show_progress)
    env: Any = environment
    if isinstance(environment, Environment):
        env = asdict(environment)
        env.pop("creation_time", None)
    return {"model": model, "code_configuration": code_body, "environment": env}
