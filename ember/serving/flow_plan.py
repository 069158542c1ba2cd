"""Flow deployments: how a prompt flow folder registered as a model and deployed without a
scoring script is served.

Azure ML deploys a flow as a ``custom_model`` whose folder holds ``flow.dag.yaml``, with no
scoring script: the promptflow runtime image serves it. Ember does the same with its own flow
engine: such a deployment runs ``python -m ember.serving.flow.worker`` on the server's own
Python (the engine is part of Ember, which a built environment does not have) with a
:class:`~ember.serving.protocol.FlowWorkerConfig`. The flow is checked (``load_flow``: file,
line and key on a mistake) when the deployment is created; its python tools are imported only
in the worker. The worker reads the flow's connections from the server when a node first needs
one: the config names the server's ``server.json``, never a secret.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.entities.auth import SECRETS
from ember.services.auth import OWNER_USER, AuthService
from ember.artifacts.store import ArtifactStore
from ember.entities.models import Model
from ember.flows.loader import FLOW_FILES, load_flow
from ember.services.models import ModelService
from ember.serving.model_files import materialize
from ember.serving.supervisor import WorkerPlan

WORKER_MODULE = "ember.serving.flow.worker"


@dataclass(frozen=True)
class FlowModel:
    """A model version whose files are a prompt flow folder."""

    model: Model
    model_dir: str               # AZUREML_MODEL_DIR
    folder: Path                 # the folder holding flow.dag.yaml
    name: str                    # the flow's display name


DEPLOYMENT_TOKEN = "deployment"


class FlowModels:
    """Finds the flow a model reference holds and plans its workers."""

    def __init__(self, models: ModelService, artifacts: ArtifactStore, home: Path,
                 auth: AuthService | None = None) -> None:
        self.models = models
        self.artifacts = artifacts
        self.home = home
        self.auth = auth

    def token(self, workspace: str, endpoint: str, deployment: str) -> str | None:
        """The deployment's own token (a new one per generation; the earlier ones revoked):
        it reads the workspace and its connections' secrets (the flow's nodes need them) and
        writes traces; nothing else."""
        if self.auth is None or not self.auth.enabled:
            return None
        subject = f"{endpoint}/{deployment}"
        self.auth.revoke_workload(DEPLOYMENT_TOKEN, workspace, subject)
        return self.auth.create_workload_token(kind=DEPLOYMENT_TOKEN, user=OWNER_USER,
                                               workspace=workspace, subject=subject,
                                               grants=(SECRETS,))

    def revoke(self, workspace: str, endpoint: str, deployment: str) -> None:
        if self.auth is not None and self.auth.enabled:
            self.auth.revoke_workload(DEPLOYMENT_TOKEN, workspace, f"{endpoint}/{deployment}")

    def find(self, workspace: str, reference: str) -> FlowModel | None:
        """The flow the model ``reference`` names, or None when its files are not a flow
        folder (an MLflow model is never one). Raises NotFoundError for an unknown model and
        SpecError (file, line, key) for a flow that does not load."""
        model = self.models.resolve(workspace, reference)
        if model.type == "mlflow_model":
            return None
        model_dir, path = materialize(self.artifacts, self.home, workspace, model)
        folder = Path(path)
        if not folder.is_dir() or not any((folder / name).is_file() for name in FLOW_FILES):
            return None
        flow = load_flow(folder)
        return FlowModel(model, model_dir, folder, flow.name)

    def plan(self, workspace: str, endpoint: str, deployment: str, fm: FlowModel, *,
             environment_variables: Mapping[str, str], request_timeout_ms: int,
             memory_limit_mb: int | None, revision: int, notes: list[str] | None = None
             ) -> WorkerPlan:
        """The worker plan of a flow deployment (see ``protocol.FlowWorkerConfig``)."""
        config: dict[str, Any] = {
            "workspace": workspace, "endpoint": endpoint, "deployment": deployment,
            "kind": "flow", "environment_variables": dict(environment_variables),
            "request_timeout_ms": request_timeout_ms, "model_dir": fm.model_dir,
            "flow_dir": str(fm.folder), "variant": None,
            "server_file": str(self.home / "server.json"), "server_url": None,
            "server_token": self.token(workspace, endpoint, deployment),
            "notes": list(notes or [])}
        return WorkerPlan(argv=[sys.executable, "-m", WORKER_MODULE],
                          # not the flow folder: it is the registered model's files (linked
                          # from the artifact store), which a tool writing to cwd would change
                          env={"PYTHONUNBUFFERED": "1"}, config=config, cwd=None,
                          memory_limit_mb=memory_limit_mb, revision=revision)
