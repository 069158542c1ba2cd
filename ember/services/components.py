"""Component versions: registration rules (references resolved before anything is written), and
the one resolution of a component reference: a workspace's versions, or the built-in ``azureml``
registry's components (:mod:`ember.services.builtin_components`)."""

from __future__ import annotations

import builtins
import time

from ember.entities.components import (
    COMPONENT_INPUT_TYPES,
    COMPONENT_OUTPUT_TYPES,
    Component,
    check_component_name,
)
from ember.entities.pipelines import PipelineJob
from ember.entities.registries import backing_workspace, is_builtin_registry
from ember.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from ember.services import builtin_components
from ember.services.environments import EnvironmentService, validate_environment
from ember.services.registries import RegistryService, registry_errors
from ember.services.uploads import UploadService
from ember.specs.expressions import validate_command
from ember.specs.references import parse_asset_reference
from ember.store.components import ComponentStore


class ComponentService:
    def __init__(self, components: ComponentStore, environments: EnvironmentService,
                 uploads: UploadService, registries: RegistryService | None = None) -> None:
        self.components = components
        self.environments = environments
        self.uploads = uploads
        self.registries = registries

    def create(self, workspace: str, comp: Component) -> Component:
        """Register a version ("" version: the next integer). Raises before writing anything
        when a reference (environment, code snapshot) does not resolve."""
        check_component_name(comp.name)
        if comp.type != "command":
            raise InvalidInputError(f"component type {comp.type!r} is not supported yet")
        for name, inp in comp.inputs.items():
            if inp.type not in COMPONENT_INPUT_TYPES:
                raise InvalidInputError(f"input {name!r}: unknown type {inp.type!r}")
        for name, out in comp.outputs.items():
            if out.type not in COMPONENT_OUTPUT_TYPES:
                raise InvalidInputError(f"output {name!r}: unknown type {out.type!r}")
        validate_command(comp.command, comp.inputs, comp.outputs, None, None)
        self.uploads.check_code(workspace, comp.code)
        self._resolve_environment(workspace, comp)
        comp.archived = False
        comp.creation_time = time.time()
        return self.components.create(workspace, comp)

    def _resolve_environment(self, workspace: str, comp: Component) -> None:
        env = comp.environment
        if env is None:
            raise InvalidInputError(f"component {comp.name!r} needs an environment")
        if isinstance(env, str):
            comp.environment = "azureml:" + self.environments.reference(workspace, env) \
                .removeprefix("azureml:")
        else:
            validate_environment(env, f"component {comp.name!r}'s inline environment")

    def get(self, workspace: str, name: str, version: str | None = None) -> Component:
        """A version, or the latest non-archived one."""
        return self.components.get(workspace, name, version)

    def list(self, workspace: str, name: str | None = None, *,
             include_archived: bool = False) -> list[Component]:
        return self.components.list(workspace, name, include_archived=include_archived)

    def resolve(self, workspace: str, reference: str) -> tuple[Component, PipelineJob | None]:
        """The component a reference names (``azureml:name:version``, ``azureml:name@latest``,
        ``azureml://registries/azureml/components/<name>/labels/latest`` or ``/versions/<v>``),
        with its body when it is a pipeline component (only the registry has those). Raises
        InvalidInputError for a reference to another kind of asset, NotFoundError for an
        unknown registry or name."""
        ref = parse_asset_reference(reference)
        if ref.registry is None:
            return self.get(workspace, ref.name, ref.version), None
        if ref.kind != "components":
            raise InvalidInputError(f"{reference!r} names {ref.kind}, not a component")
        found = self.get_from_registry(ref.registry, ref.name, ref.version)
        if found.component.code and not is_builtin_registry(ref.registry):
            # the code snapshot is the registry's upload; a job reads its own workspace's
            self.uploads.copy_code(backing_workspace(ref.registry), workspace,
                                   found.component.code)
        return found.component, found.pipeline

    def _registry_workspace(self, registry: str) -> str:
        if self.registries is None:
            raise NotFoundError(f"registry {registry!r} does not exist")
        return self.registries.workspace_of(registry)

    def get_from_registry(self, registry: str, name: str, version: str | None = None
                          ) -> builtin_components.BuiltinComponent:
        """A component of ``registry``: Ember's built-ins (``azureml``) or a user registry's
        (a command component; its environment is a registry reference, see
        :meth:`create_in_registry`)."""
        if is_builtin_registry(registry):
            builtin_components.check_registry(registry)
            return builtin_components.get(name, version)
        ws = self._registry_workspace(registry)
        with registry_errors(registry):
            return builtin_components.BuiltinComponent(self.get(ws, name, version))

    def list_from_registry(self, registry: str, name: str | None = None, *,
                           include_archived: bool = False) -> builtins.list[Component]:
        if is_builtin_registry(registry):
            builtin_components.check_registry(registry)
            return builtin_components.list_components(name)
        return self.list(self._registry_workspace(registry), name,
                         include_archived=include_archived)

    def create_in_registry(self, registry: str, comp: Component) -> Component:
        """Register a version in a user registry (its code uploaded to the registry); a
        workspace environment reference becomes the registry's
        (``azureml://registries/<r>/environments/<name>/versions/<v>``), so the component runs
        the same from every workspace. ``azureml`` refuses (PermissionDeniedError)."""
        if is_builtin_registry(registry):
            raise PermissionDeniedError(
                f"cannot create component {comp.name!r}: the {registry!r} registry is "
                "read-only (Ember's built-in components)")
        ws = self._registry_workspace(registry)
        env = comp.environment
        if isinstance(env, str) and not env.startswith("azureml://"):
            pinned = self.environments.reference(ws, env)
            if not pinned.startswith("azureml://"):   # else a curated one: the same anywhere
                name, _, version = pinned.partition(":")
                pinned = (f"azureml://registries/{registry}/environments/{name}/"
                          f"versions/{version}")
            comp.environment = pinned
        return self.create(ws, comp)

    def archive(self, workspace: str, name: str, version: str) -> Component:
        return self.components.set_archived(workspace, name, version, True)

    def restore(self, workspace: str, name: str, version: str) -> Component:
        return self.components.set_archived(workspace, name, version, False)
