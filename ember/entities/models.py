"""The model registry: registered models and their versions (one registry for the Azure ML
``model`` asset and the MLflow Model Registry).

A ``Model`` is one version, shaped like azure-ai-ml's ``Model``: ``name``, integer ``version``,
``type`` (custom_model | mlflow_model), ``path``, tags, properties, description, flavors. It
also carries the MLflow model-version fields (``source``, ``run_id``, ``model_id``, ``stage``,
``status``, ``aliases``). ``path`` is where the version's files are, as an ``mlflow-artifacts:/``
path inside the workspace's artifact root, so the unmodified MLflow client can download it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ember.entities.registries import backing_workspace, is_builtin_registry

MODEL_TYPES = ("custom_model", "mlflow_model")
# MLflow's model-version stages (deprecated upstream, still accepted by the client).
STAGES = ("None", "Staging", "Production", "Archived")
ARTIFACT_SCHEME = "mlflow-artifacts:/"


@dataclass
class RegisteredModel:
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int = 0        # ms since the epoch, as MLflow reports it
    last_update_time: int = 0
    aliases: dict[str, int] = field(default_factory=dict)   # alias → version


@dataclass
class Model:
    name: str
    version: int = 0              # 0: the next integer after the highest version
    path: str = ""                # mlflow-artifacts:/<path> of the registered files
    type: str = "custom_model"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    flavors: dict[str, dict[str, object]] = field(default_factory=dict)
    source: str = ""              # what the files were registered from (as given)
    run_id: str = ""              # the job / MLflow run that produced them ("" when unknown)
    model_id: str = ""            # the MLflow logged model (m-...) they came from, if any
    stage: str = "None"
    status: str = "READY"
    archived: bool = False
    creation_time: int = 0
    last_update_time: int = 0
    aliases: list[str] = field(default_factory=list)
    registry: str = ""            # "azureml": a model of the built-in catalog (read-only; its
    #                               path is file://<where its package put the files>); another
    #                               name: a user registry's (files in its backing workspace)

    @property
    def in_catalog(self) -> bool:
        """A model of the built-in ``azureml`` catalog (files where its package put them)."""
        return is_builtin_registry(self.registry) if self.registry else False

    def files_workspace(self, workspace: str) -> str:
        """The workspace whose artifact store holds this version's files: a user registry's
        backing workspace, else ``workspace`` (the one it was resolved in)."""
        if self.registry and not self.in_catalog:
            return backing_workspace(self.registry)
        return workspace

    @property
    def artifact_path(self) -> str:
        """``path`` without the scheme: relative to the workspace's mlflow-artifacts root."""
        return self.path[len(ARTIFACT_SCHEME):].lstrip("/") if self.path.startswith(
            ARTIFACT_SCHEME) else self.path

    @property
    def id(self) -> str:
        """The reference that names this version (what a deployment records)."""
        if self.registry:
            return f"azureml://registries/{self.registry}/models/{self.name}/versions/" \
                f"{self.version}"
        return f"azureml:{self.name}:{self.version}"
