from __future__ import annotations

import builtins
import time

from ember.entities.environments import Environment
from ember.entities.names import check_name
from ember.entities.registries import is_builtin_registry
from ember.errors import (InvalidInputError, NotFoundError, PermissionDeniedError,
                          UnsupportedError)
from ember.services.curated_environments import (REGISTRY, curated_environment,
                                                 is_curated_name, registry_reference)
from ember.services.registries import RegistryService, registry_errors
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


REGISTRY_TAG = "ember.registry"   # on an environment read from a registry (never stored)


class EnvironmentService:
    def __init__(self, environments: EnvironmentStore,
                 registries: RegistryService | None = None) -> None:
        self.environments = environments
        self.registries = registries

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
                return self.get_from_registry(ref.registry, ref.name, ref.version)
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
        registry = env.tags.get(REGISTRY_TAG)
        if registry == REGISTRY:
            return registry_reference(env.name, env.version), env
        if registry:   # a user registry's: the reference works from every workspace
            return (f"azureml://registries/{registry}/environments/{env.name}/versions/"
                    f"{env.version}"), env
        return f"{env.name}:{env.version}", env

    def reference(self, workspace: str, reference: str) -> str:
        """The pinned form of ``reference`` (see :meth:`pinned`)."""
        return self.pinned(workspace, reference)[0]

    # --- user registries (the built-in azureml's are the curated environments) -------------

    def _registry_workspace(self, registry: str) -> str:
        if self.registries is None:
            raise NotFoundError(f"registry {registry!r} does not exist")
        return self.registries.workspace_of(registry)

    def get_from_registry(self, registry: str, name: str,
                          version: str | None = None) -> Environment:
        """An environment of ``registry``, tagged with the registry (``pinned`` then records
        the registry reference, which resolves from any workspace)."""
        if is_builtin_registry(registry):
            return curated_environment(name, version)
        ws = self._registry_workspace(registry)
        with registry_errors(registry):
            env = self.environments.get(ws, name, version)
        env.tags = {**env.tags, REGISTRY_TAG: registry}
        return env

    def list_from_registry(self, registry: str,
                           name: str | None = None) -> builtins.list[Environment]:
        if is_builtin_registry(registry):
            raise UnsupportedError(
                f"the {REGISTRY!r} registry's environments are Azure's curated ones; name one "
                f"as azureml://registries/{REGISTRY}/environments/<name>/labels/latest")
        found = self.environments.list(self._registry_workspace(registry), name)
        for env in found:
            env.tags = {**env.tags, REGISTRY_TAG: registry}
        return found

    def create_in_registry(self, registry: str, env: Environment) -> Environment:
        """A new environment version in a user registry; ``azureml`` refuses
        (PermissionDeniedError)."""
        if is_builtin_registry(registry):
            raise PermissionDeniedError(
                f"cannot create environment {env.name!r}: the {REGISTRY!r} registry is "
                "read-only (Azure's curated environments)")
        created = self.create(self._registry_workspace(registry), env)
        created.tags = {**created.tags, REGISTRY_TAG: registry}
        return created
