"""What online and batch deployments share: checking and resolving their model, scoring code
and environment before anything is recorded."""

from __future__ import annotations

from dataclasses import dataclass

from ember.artifacts.store import ArtifactStore, safe_relpath
from ember.entities.online_endpoints import CodeConfiguration
from ember.entities.environments import Environment
from ember.entities.models import Model
from ember.errors import InvalidInputError, UnsupportedError
from ember.services.environments import (DOCKERFILE_REFUSED, EnvironmentService,
                                         validate_environment)
from ember.services.models import ModelService
from ember.services.uploads import UploadService, upload_prefix


@dataclass
class Resolved:
    model: str                                   # azureml:name:version, or ""
    environment: str | Environment | None        # name:version, inline, or None


class DeploymentAssets:
    def __init__(self, models: ModelService, environments: EnvironmentService,
                 uploads: UploadService, artifacts: ArtifactStore) -> None:
        self.models = models
        self.environments = environments
        self.uploads = uploads
        self.artifacts = artifacts

    def check(self, workspace: str, what: str, model_ref: str | Model,
              code: CodeConfiguration | None,
              environment: str | Environment | None, *,
              language_model: bool = False) -> Resolved:
        """Resolve the model and environment references and check the scoring script is in
        the uploaded code. A deployment without code needs an MLflow model (no-code), or a
        language model (``language_model``: the caller found its files are one)."""
        if isinstance(model_ref, Model):
            raise InvalidInputError(f"{what}: an inline model must be registered first (the "
                                    "CLI and SDK do this for you)")
        model = self.models.resolve(workspace, model_ref) if model_ref else None
        ref = f"azureml:{model.name}:{model.version}" if model else ""
        if code is not None:
            self.uploads.check_code(workspace, code.code)
            script = safe_relpath(code.scoring_script, allow_empty=False)
            digest = code.code.removeprefix("codes/")
            if not self.artifacts.exists(
                    f"{upload_prefix(workspace, 'code', digest)}/{script}"):
                raise InvalidInputError(f"{what}: scoring script {code.scoring_script!r} is not "
                                        "in the code folder")
        elif model is None:
            raise InvalidInputError(f"{what} needs a model, or a code_configuration with a "
                                    "scoring script")
        elif not language_model and (model.type != "mlflow_model"
                                     or "python_function" not in model.flavors):
            raise InvalidInputError(
                f"{what}: model {ref} is a {model.type} without the MLflow python_function "
                "flavor, so it needs code_configuration (a scoring script with init() and run())")
        env = environment
        if isinstance(env, str):
            env = self.environments.reference(workspace, env)
        elif isinstance(env, Environment):
            validate_environment(env, f"{what}'s inline environment")
            if env.build:
                raise UnsupportedError(f"{what}'s inline environment {DOCKERFILE_REFUSED}")
        return Resolved(ref, env)

    def environment(self, workspace: str,
                    env: str | Environment | None) -> tuple[Environment | None, str]:
        """The Environment to build (None: the server's Python) and its label."""
        if isinstance(env, str):
            return self.environments.resolve(workspace, env), env
        if isinstance(env, Environment):
            return env, f"{env.name} (inline)" if env.name else "(inline)"
        return None, "(server Python)"
