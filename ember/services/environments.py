from __future__ import annotations

import time

from ember.entities.environments import Environment
from ember.entities.names import check_name
from ember.errors import InvalidInputError, NotFoundError, UnsupportedError
from ember.services.curated_environments import (REGISTRY, curated_environment,
                                                 is_curated_name, registry_reference)
from ember.specs.references import parse_asset_reference
from ember.store.environments import EnvironmentStore

DOCKERFILE_REFUSED = ("is built from a Dockerfile ('build'); Ember runs jobs and deployments "
                      "without a container runtime, so it cannot build or use it. Give a "
                      "conda_file or pip requirements (an 'image' may stay alongside), or use "
                      "a curated environment (azureml://registries/azureml/environments/...)")


def validate_environment(env: Environment, what: str) -> None:
    if env.image and env.build:
        raise InvalidInputError(f"{what}: set only one of 'image' and 'build'")
    if not (env.image or env.build or env.conda_file is not None
            or env.pip_requirements is not None):
        raise InvalidInputError(
            f"{what}: give an 'image', a 'build', a 'conda_file' or pip requirements")
    if env.os_type not in ("linux", "windows"):
        raise InvalidInputError(f"{what}: os_type {env.os_type!r} is not linux or windows")


class EnvironmentService:
    def __init__(self, environments: EnvironmentStore) -> None:
        self.environments = environments

    def create(self, workspace: str, env: Environment) -> Environment:
        if not env.name:
            raise InvalidInputError("an environment needs a name")
        check_name("environment", env.name)
        if is_curated_name(env.name):
            raise InvalidInputError(
                f"environment name {env.name!r}: the AzureML- prefix is reserved for curated "
                "environments (the built-in azureml registry); choose another name")
        validate_environment(env, f"environment {env.name!r}")
        if env.build:
            raise UnsupportedError(f"environment {env.name!r} {DOCKERFILE_REFUSED}")
        env.creation_time = time.time()
        return self.environments.create(workspace, env)

    def get(self, workspace: str, name: str, version: str | None = None) -> Environment:
        return self.environments.get(workspace, name, version)

    def list(self, workspace: str, name: str | None = None) -> list[Environment]:
        return self.environments.list(workspace, name)

    def resolve(self, workspace: str, reference: str) -> Environment:
        """The environment any reference names: ``name:version`` (as recorded on a job),
        ``azureml:name:version``, ``azureml:name@latest``, ``azureml:name``, an ARM id, or a
        registry URI. ``azureml://registries/azureml/...`` and ``azureml:AzureML-<name>`` are
        curated environments (see :mod:`ember.services.curated_environments`)."""
        ref = parse_asset_reference(reference if reference.startswith("azureml:")
                                    else f"azureml:{reference}")
        if ref.kind is not None and ref.kind.lower() != "environments":
            raise InvalidInputError(f"{reference!r} names {ref.kind}, not an environment")
        if ref.registry is not None:
            if ref.registry.lower() != REGISTRY:
                raise NotFoundError(
                    f"registry {ref.registry!r} in {reference!r} is not known to Ember: the "
                    f"built-in registry is '{REGISTRY}' (Azure's curated environments); "
                    "register your own environments in the workspace")
            return curated_environment(ref.name, ref.version)
        try:
            return self.environments.get(workspace, ref.name, ref.version)
        except NotFoundError:
            # AzureML-<name>: a curated environment, unless the workspace has its own of that
            # name (registered before the prefix was reserved, as a stand-in)
            if is_curated_name(ref.name):
                return curated_environment(ref.name, ref.version)
            raise

    def pinned(self, workspace: str, reference: str) -> tuple[str, Environment]:
        """Resolve ``reference``; return the pinned form a job or deployment records
        (``name:version`` for a workspace environment, the registry URI with its version for a
        curated one) and the environment."""
        env = self.resolve(workspace, reference)
        if env.tags.get("ember.registry") == REGISTRY:
            return registry_reference(env.name, env.version), env
        return f"{env.name}:{env.version}", env

    def reference(self, workspace: str, reference: str) -> str:
        """The pinned form of ``reference`` (see :meth:`pinned`)."""
        return self.pinned(workspace, reference)[0]
