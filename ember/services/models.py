"""The model registry service: Azure ML ``model`` assets and the MLflow Model Registry share it.

Where a version's files live (``Model.path``, always ``mlflow-artifacts:/<p>`` so the MLflow
client can download them):
- from a datastore or job output (``azureml://...``, which is also where the CLI and SDK upload
  local files): copied into ``registry/<name>/<id>/<base name>``, so a later change to the
  source cannot change a registered version;
- from MLflow's own artifacts (``runs:/``, ``models:/m-...``, ``mlflow-artifacts:/``): referenced
  where they are, as MLflow's registry does.
"""

from __future__ import annotations

import builtins
import logging
import posixpath
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ember.artifacts.store import ArtifactStore, FileInfo, safe_relpath
from ember.artifacts.uris import JobOutputUri, is_azureml_uri, parse_azureml_uri
from ember.entities.models import ARTIFACT_SCHEME, MODEL_TYPES, STAGES, Model, RegisteredModel
from ember.entities.names import check_name
from ember.entities.registries import is_builtin_registry
from ember.errors import (AlreadyExistsError, EmberError, InvalidInputError, NotFoundError,
                          UnsupportedError)
from ember.services.datastores import DatastoreService
from ember.services.language_models import (FORMAT_ADAPTER, LanguageModelInfo, card,
                                            inspect_model_files)
from ember.services.registries import RegistryService, registry_errors
from ember.services.model_catalog import (FILE_SCHEME, ModelCatalog, check_registry,
                                          is_registry_reference, parse_registry_reference,
                                          refuse_write, registry_reference)
from ember.store.models import ModelStore
from ember.tracking.service import TrackingService

JobOutputResolver = Callable[[str, str, str], str]
log = logging.getLogger("ember.models")
MAX_MLMODEL_BYTES = 1 << 20
LATEST = "latest"
AUTO_TYPE = "auto"   # mlflow_model when the files hold an MLmodel file, else custom_model


@dataclass(frozen=True)
class ModelChange:
    """A version of model ``name`` in ``workspace`` was created, changed (tags, stage,
    archived) or deleted, or the registered model was renamed (``name`` is then the old name),
    re-tagged, re-aliased or deleted."""

    workspace: str
    name: str


class ModelService:
    def __init__(self, models: ModelStore, artifacts: ArtifactStore,
                 datastores: DatastoreService, tracking: TrackingService,
                 job_output_uri: JobOutputResolver, catalog: ModelCatalog | None = None,
                 registries: RegistryService | None = None) -> None:
        self._store = models   # private: every change goes through this service
        self.artifacts = artifacts
        self.datastores = datastores
        self.tracking = tracking
        self.job_output_uri = job_output_uri
        self.catalog = catalog if catalog is not None else ModelCatalog()
        self.registries = registries
        # Called with a ModelChange after every change this service records (the serving
        # layer subscribes: deployments of a base model serve the adapters registered for it;
        # the service knows nothing of serving).
        self._listeners: list[Callable[[ModelChange], None]] = []

    def subscribe(self, listener: Callable[[ModelChange], None]) -> None:
        """Call ``listener`` after every change of a model this service records,
        synchronously, in the thread that made it. A listener's exception is logged, never
        raised to the caller: the change is recorded by then."""
        self._listeners.append(listener)

    def _publish(self, workspace: str, name: str) -> None:
        event = ModelChange(workspace, name)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - the change is recorded; a listener's failure
                log.exception("model change listener failed for %s/%s", workspace, name)

    # --- registered models ---------------------------------------------------------------

    def create_registered(self, workspace: str, model: RegisteredModel) -> RegisteredModel:
        check_name("model", model.name)
        return self._store.create_registered(workspace, model)

    def ensure_registered(self, workspace: str, name: str) -> None:
        try:
            self._store.create_registered(workspace, RegisteredModel(name=name))
        except AlreadyExistsError:
            pass   # the usual case: a new version of a model that exists

    # --- records as the MLflow registry protocol reads and edits them ------------------------

    def get_registered(self, workspace: str, name: str) -> RegisteredModel:
        return self._store.get_registered(workspace, name)

    def list_registered(self, workspace: str) -> builtins.list[RegisteredModel]:
        return self._store.list_registered(workspace)

    def update_registered(self, workspace: str, name: str, *, description: str | None = None,
                          tags: dict[str, str] | None = None,
                          new_name: str | None = None) -> RegisteredModel:
        updated = self._store.update_registered(workspace, name, description=description,
                                                tags=tags, new_name=new_name)
        self._publish(workspace, name)
        if new_name and new_name != name:
            self._publish(workspace, new_name)
        return updated

    def get_version(self, workspace: str, name: str, version: int) -> Model:
        return self._store.get_version(workspace, name, version)

    def list_versions(self, workspace: str, name: str | None = None, *,
                      include_archived: bool = False) -> builtins.list[Model]:
        return self._store.list_versions(workspace, name, include_archived=include_archived)

    def set_stage(self, workspace: str, name: str, version: int, stage: str) -> Model:
        updated = self._store.update_version(workspace, name, version, stage=stage)
        self._publish(workspace, name)
        return updated

    def set_tag(self, workspace: str, name: str, version: int | None, key: str,
                value: str | None) -> None:
        """Set (or, with None, delete) one tag of a registered model or a version, atomically."""
        self._store.set_tag(workspace, name, version, key, value)
        self._publish(workspace, name)

    def set_alias(self, workspace: str, name: str, alias: str, version: int) -> None:
        self._store.set_alias(workspace, name, alias, version)
        self._publish(workspace, name)

    def delete_alias(self, workspace: str, name: str, alias: str) -> None:
        self._store.delete_alias(workspace, name, alias)
        self._publish(workspace, name)

    # --- versions (the Azure ML ``model`` asset) -----------------------------------------

    def create(self, workspace: str, model: Model) -> Model:
        """Register a version from ``model.path`` (see the module docstring for what it may
        be). Raises InvalidInputError for a bad name, type, stage or path, or an
        ``mlflow_model`` without a readable MLmodel file; nothing is written then."""
        check_name("model", model.name)
        what = f"model {model.name!r}"
        if model.type not in (*MODEL_TYPES, AUTO_TYPE):
            raise InvalidInputError(f"{what}: type {model.type!r} is not one of "
                                    f"{', '.join(MODEL_TYPES)}")
        if model.stage not in STAGES:
            raise InvalidInputError(f"{what}: stage {model.stage!r} is not one of "
                                    f"{', '.join(STAGES)}")
        if not model.path:
            raise InvalidInputError(f"{what} needs a path (a local file or folder, "
                                    "azureml://..., runs:/..., models:/... or mlflow-artifacts:/)")
        source = model.source or model.path
        copied: str | None = None
        if is_azureml_uri(model.path):
            copied = self._copy_in(workspace, model, source)
            path, run_id, model_id = copied, self._producer(model.path), ""
        else:
            path, run_id, model_id = self._mlflow_location(workspace, model.path, what)
        try:
            if not self.artifacts.exists(self.tracking.mlflow_artifact_path(workspace, path)):
                raise InvalidInputError(f"{what}: {source} holds no files")
            if model.type == AUTO_TYPE:   # MLflow's registry: an MLmodel file decides
                mlmodel = self.tracking.mlflow_artifact_path(workspace, f"{path}/MLmodel")
                model.type = "mlflow_model" if self.artifacts.exists(mlmodel) \
                    else "custom_model"
            if model.type == "mlflow_model":
                model.flavors = self._flavors(workspace, path, what, source)
            else:
                self._add_card(workspace, model, path, what)
            self.ensure_registered(workspace, model.name)
            created = self._store.create_version(workspace, Model(
                name=model.name, version=model.version, path=ARTIFACT_SCHEME + path,
                type=model.type, description=model.description, tags=model.tags,
                properties=model.properties, flavors=model.flavors, source=source,
                run_id=model.run_id or run_id, model_id=model_id, stage=model.stage))
        except BaseException:
            if copied is not None:
                self.artifacts.delete(self.tracking.mlflow_artifact_path(workspace, copied))
            raise
        self._publish(workspace, model.name)
        return created

    def get(self, workspace: str, name: str, version: int | str | None = None, *,
            label: str | None = None) -> Model:
        """A version; with neither version nor label, the latest non-archived one.
        ``label`` is ``latest`` or an alias."""
        if version not in (None, ""):
            return self._store.get_version(workspace, name, parse_version(version, name))
        if label and label != LATEST:
            registered = self._store.get_registered(workspace, name)
            if label not in registered.aliases:
                raise NotFoundError(f"model {name!r} has no alias {label!r}")
            return self._store.get_version(workspace, name, registered.aliases[label])
        versions = self._store.list_versions(workspace, name)
        if not versions:
            self._store.get_registered(workspace, name)   # raises for an unknown name
            raise NotFoundError(f"model {name!r} has no version that is not archived")
        return versions[0]

    def resolve(self, workspace: str, reference: str) -> Model:
        """``azureml:name:version``, ``azureml:name@label``, ``name:version``, ``name``, or a
        registry's model: ``azureml://registries/<r>/models/<name>`` with ``/versions/<v>``,
        ``/labels/latest`` or neither (the latest), of the built-in catalog (``azureml``) or
        of a user registry, usable from any workspace."""
        if is_registry_reference(reference):
            reg = parse_registry_reference(reference)
            return self.get_from_registry(reg.registry, reg.name, reg.version, label=reg.label)
        ref = reference[len("azureml:"):] if reference.startswith("azureml:") else reference
        if "@" in ref:
            name, _, label = ref.partition("@")
            return self.get(workspace, name, label=label)
        name, _, version = ref.partition(":")
        try:
            return self.get(workspace, name, version or None)
        except NotFoundError as exc:
            entry = next((e for e in self.catalog.entries if e.name.lower() == name.lower()),
                         None)
            if entry is None:
                raise
            raise NotFoundError(f"{exc.message}; the model catalog has {entry.name}: "
                                f"azureml://registries/azureml/models/{entry.name}"
                                "/labels/latest") from None

    # --- registries: the built-in, read-only ``azureml`` catalog, and user registries ------

    def _registry_workspace(self, registry: str) -> str:
        """A user registry's backing workspace (NotFoundError naming an unknown registry)."""
        if self.registries is None:
            check_registry(registry)   # raises: only the catalog is known
        assert self.registries is not None
        return self.registries.workspace_of(registry)

    def _writable_registry(self, registry: str, what: str) -> str:
        if is_builtin_registry(registry):
            refuse_write(registry, what)
        return self._registry_workspace(registry)

    def get_from_registry(self, registry: str, name: str, version: int | str | None = None, *,
                          label: str | None = None) -> Model:
        """A model of ``registry``: the catalog's (see :class:`ModelCatalog.get`), or a user
        registry's, marked with its ``registry``."""
        if is_builtin_registry(registry):
            return self.catalog.get(name, version, label=label)
        ws = self._registry_workspace(registry)
        with registry_errors(registry):
            found = self.get(ws, name, version, label=label)
        return replace(found, registry=registry)

    def list_from_registry(self, registry: str, name: str | None = None, *,
                           include_archived: bool = False) -> builtins.list[Model]:
        """The models of ``registry`` (the latest version of each), or the versions of
        ``name``."""
        if is_builtin_registry(registry):
            return self.catalog.list(name)
        ws = self._registry_workspace(registry)
        with registry_errors(registry):
            found = self.list(ws, name, include_archived=include_archived)
        return [replace(m, registry=registry) for m in found]

    def create_in_registry(self, registry: str, model: Model) -> Model:
        """Register a version in a user registry (its ``path`` as for :meth:`create`, read in
        the registry's own uploads); the ``azureml`` catalog refuses (PermissionDeniedError)."""
        ws = self._writable_registry(registry, f"create model {model.name!r}")
        return replace(self.create(ws, model), registry=registry)

    def update_in_registry(self, registry: str, name: str, version: int | str, *,
                           description: str | None = None, tags: dict[str, str] | None = None,
                           properties: dict[str, str] | None = None,
                           stage: str | None = None) -> Model:
        ws = self._writable_registry(registry, f"update model {name!r}")
        return replace(self.update(ws, name, version, description=description, tags=tags,
                                   properties=properties, stage=stage), registry=registry)

    def set_archived_in_registry(self, registry: str, name: str, version: int | str | None,
                                 archived: bool) -> builtins.list[Model]:
        ws = self._writable_registry(
            registry, f"{'archive' if archived else 'restore'} model {name!r}")
        return [replace(m, registry=registry)
                for m in self.set_archived(ws, name, version, archived)]

    def refuse_registry_write(self, registry: str, what: str) -> NoReturn:
        """Raise PermissionDeniedError: a registry's models cannot be created or changed."""
        refuse_write(registry, what)

    # --- language models -----------------------------------------------------------------

    def language_model(self, workspace: str, model: str | Model, *,
                       files: Path | None = None) -> tuple[Model, LanguageModelInfo]:
        """The model a reference names (or ``model`` itself) and its language-model card, whose
        ``path`` is the local GGUF file or folder to load. ``files``: a local copy of a
        workspace version's files (its registered file or folder) when the caller made one;
        without it, the artifact store's own files (a local store) or the catalog entry's.
        An adapter's ``base_model`` is the version's ``base_model`` tag when it has one (a
        model reference). Raises InvalidInputError when the files are not a language model,
        UnsupportedError when they are only in a remote artifact store and ``files`` is not
        given, and what :meth:`resolve` raises."""
        if isinstance(model, str):
            model = self.resolve(workspace, model)
        if model.in_catalog:
            return self.catalog.language_model(model.name)
        path = files if files is not None else self.local_path(workspace, model)
        if path is None:
            raise UnsupportedError(
                f"model {model.id}: its files are in a remote artifact store; give a local "
                "copy (ModelService.language_model(..., files=...))")
        info = inspect_model_files(path)
        if info is None:
            raise InvalidInputError(
                f"model {model.id} is not a language model: its files are not a GGUF file "
                "(or a folder holding one), a Hugging Face folder (config.json, weights, "
                "tokenizer) or a PEFT adapter (adapter_config.json)")
        base = model.tags.get("base_model")
        if info.format == FORMAT_ADAPTER and base:
            info = replace(info, base_model=base)
        return model, info

    def local_path(self, workspace: str, model: Model) -> Path | None:
        """Where a version's file or folder is on this machine, or None when it is only in a
        remote artifact store (a catalog model's files are where its package put them)."""
        if model.in_catalog:
            return Path(model.path[len(FILE_SCHEME):]) if model.path.startswith(FILE_SCHEME) \
                else None
        return self.artifacts.local_path(self.tracking.mlflow_artifact_path(
            model.files_workspace(workspace), model.artifact_path))

    def location(self, workspace: str, model: Model) -> str | None:
        """Where a job reads a version's files: its local path, or the fsspec URL
        (``s3://...``) of its copy in a remote artifact store, which the job's working folder
        downloads; None for a catalog model whose files are not on this machine."""
        local = self.local_path(workspace, model)
        if local is not None:
            return str(local)
        if model.in_catalog:
            return None
        return self.artifacts.location(self.tracking.mlflow_artifact_path(
            model.files_workspace(workspace), model.artifact_path))

    def _add_card(self, workspace: str, model: Model, rel: str, what: str) -> None:
        """A custom model whose files are a language model gets the catalog's card tags and
        properties (those the user set are kept). An adapter's ``base_model`` tag, when it is
        a reference, must resolve; a Hugging Face id that a catalog entry has becomes that
        entry's reference."""
        local = self.artifacts.local_path(self.tracking.mlflow_artifact_path(workspace, rel))
        info = inspect_model_files(local) if local is not None else None
        if info is None:
            return   # not a language model (or a remote store: detected when deployed)
        if info.format == FORMAT_ADAPTER:
            given = model.tags.get("base_model")
            if given and given.startswith("azureml:"):
                try:
                    self.resolve(workspace, given)
                except EmberError as exc:
                    raise InvalidInputError(f"{what}: tag base_model {given!r}: "
                                            f"{exc.message}") from None
            elif not given and info.base_model:
                entry = next((e for e in self.catalog.entries
                              if e.huggingface_id.lower() == info.base_model.lower()), None)
                if entry is not None:
                    info = replace(info, base_model=registry_reference(entry.name))
        tags, properties = card(info, model.name)
        model.tags = {**tags, **model.tags}
        model.properties = {**properties, **model.properties}

    def list(self, workspace: str, name: str | None = None, *,
             include_archived: bool = False) -> list[Model]:
        """Every version of ``name``, newest first; without a name the latest version of each
        model."""
        versions = self._store.list_versions(workspace, name, include_archived=include_archived)
        if name is not None:
            return versions
        latest: dict[str, Model] = {}
        for m in versions:
            latest.setdefault(m.name, m)
        return list(latest.values())

    def update(self, workspace: str, name: str, version: int | str, *,
               description: str | None = None, tags: dict[str, str] | None = None,
               properties: dict[str, str] | None = None, stage: str | None = None) -> Model:
        if stage is not None and stage not in STAGES:
            raise InvalidInputError(f"model '{name}:{version}': stage {stage!r} is not one of "
                                    f"{', '.join(STAGES)}")
        updated = self._store.update_version(workspace, name, parse_version(version, name),
                                             description=description, tags=tags,
                                             properties=properties, stage=stage)
        self._publish(workspace, name)
        return updated

    def set_archived(self, workspace: str, name: str, version: int | str | None,
                     archived: bool) -> builtins.list[Model]:
        """Archive or restore one version, or every version when ``version`` is None."""
        if version in (None, ""):
            targets = [m.version for m in self._store.list_versions(
                workspace, name, include_archived=True)]
            if not targets:
                self._store.get_registered(workspace, name)
        else:
            targets = [parse_version(version, name)]
        done = [self._store.update_version(workspace, name, v, archived=archived)
                for v in targets]
        self._publish(workspace, name)
        return done

    def delete_version(self, workspace: str, name: str, version: int) -> None:
        """Delete a version (MLflow's registry allows it) and the files copied in for it."""
        model = self._store.get_version(workspace, name, version)
        self._store.delete_version(workspace, name, version)
        self._publish(workspace, name)
        self._delete_copy(workspace, model)

    def delete_registered(self, workspace: str, name: str) -> None:
        """Delete a registered model, its versions and the files copied in for them."""
        versions = self._store.list_versions(workspace, name, include_archived=True)
        self._store.delete_registered(workspace, name)
        self._publish(workspace, name)
        for model in versions:
            self._delete_copy(workspace, model)

    def _delete_copy(self, workspace: str, model: Model) -> None:
        # Only files the registry copied in (registry/<name>/<id>/...); MLflow's own run and
        # logged-model artifacts stay with their run.
        parts = model.artifact_path.split("/")
        if len(parts) >= 3 and parts[0] == "registry":
            self.artifacts.delete(self.tracking.mlflow_artifact_path(
                workspace, "/".join(parts[:3])))

    # --- files ---------------------------------------------------------------------------

    def files(self, workspace: str, model: Model) -> builtins.list[FileInfo]:
        """Every file of a version, with paths relative to its ``path``."""
        root = self.tracking.mlflow_artifact_path(model.files_workspace(workspace),
                                                  model.artifact_path)
        if not self.artifacts.isdir(root):
            return [FileInfo(posixpath.basename(root), False, self.artifacts.size(root))]
        return [FileInfo(rel, False, self.artifacts.size(f"{root}/{rel}"))
                for rel in self.artifacts.walk_files(root)]

    def file_path(self, workspace: str, model: Model, rel: str) -> str:
        """ArtifactStore path of one file of a version (``rel`` confined to it)."""
        root = self.tracking.mlflow_artifact_path(model.files_workspace(workspace),
                                                  model.artifact_path)
        if not self.artifacts.isdir(root):
            if safe_relpath(rel) not in ("", posixpath.basename(root)):
                raise NotFoundError(f"model '{model.name}:{model.version}' has no file {rel!r}")
            return root
        target = f"{root}/{safe_relpath(rel, allow_empty=False)}"
        if not self.artifacts.exists(target) or self.artifacts.isdir(target):
            raise NotFoundError(f"model '{model.name}:{model.version}' has no file {rel!r}")
        return target

    # --- where files come from -----------------------------------------------------------

    def _copy_in(self, workspace: str, model: Model, source: str) -> str:
        parsed = parse_azureml_uri(model.path)
        src_store, src = self.datastores.locate_uri(workspace, model.path, self.job_output_uri)
        if not src_store.exists(src):
            raise InvalidInputError(f"model {model.name!r}: {source} does not exist")
        base = posixpath.basename(source.rstrip("/")) if model.source else ""
        if not base or base in (".", ".."):
            base = posixpath.basename(src.rstrip("/")) or (
                parsed.output if isinstance(parsed, JobOutputUri) else "model")
        rel = f"registry/{model.name}/{uuid.uuid4().hex[:12]}/{safe_relpath(base)}"
        target = self.tracking.mlflow_artifact_path(workspace, rel)
        if src_store.isdir(src):
            for file in src_store.walk_files(src):
                _copy_file(src_store, f"{src}/{file}", self.artifacts, f"{target}/{file}")
        else:
            _copy_file(src_store, src, self.artifacts, target)
        return rel

    @staticmethod
    def _producer(uri: str) -> str:
        parsed = parse_azureml_uri(uri)
        return parsed.job if isinstance(parsed, JobOutputUri) else ""

    def _mlflow_location(self, workspace: str, uri: str, what: str) -> tuple[str, str, str]:
        """(mlflow-artifacts path, run id, logged model id) of an MLflow-side source."""
        if uri.startswith(ARTIFACT_SCHEME):
            rest = uri[len(ARTIFACT_SCHEME):]
            if rest.startswith("//"):
                rest = rest[2:].partition("/")[2]   # drop a //host part
            return safe_relpath(rest), "", ""
        if uri.startswith("models:/m-"):
            model_id = uri[len("models:/"):].split("/", 1)[0]
            logged = self.tracking.get_logged_model(workspace, model_id)
            return (self._artifact_rel(logged.artifact_location), logged.source_run_id or "",
                    model_id)
        if uri.startswith("runs:/"):
            run_id, _, sub = uri[len("runs:/"):].partition("/")
            root = self.tracking.run_artifact_prefix(workspace, run_id)
            base = f"workspaces/{workspace}/mlartifacts/"
            rel = f"{root[len(base):]}/{safe_relpath(sub)}" if sub else root[len(base):]
            if self.artifacts.exists(self.tracking.mlflow_artifact_path(workspace, rel)):
                return rel, run_id, ""
            found = self._logged_model_of_run(workspace, run_id, safe_relpath(sub))
            if found is not None:
                return found[0], run_id, found[1]
            raise InvalidInputError(f"{what}: run {run_id!r} has no artifacts at {sub!r} and "
                                    f"no logged model named {sub!r}")
        raise InvalidInputError(
            f"{what}: path {uri!r} is not something the server can read: give a local file or "
            "folder (the CLI and SDK upload it), azureml://datastores/..., "
            "azureml://jobs/<job>/outputs/<output>, runs:/<run>/<path>, models:/<model id> or "
            "mlflow-artifacts:/<path>")

    def _logged_model_of_run(self, workspace: str, run_id: str,
                             name: str) -> tuple[str, str] | None:
        info = self.tracking.get_run(workspace, run_id).info
        page = self.tracking.search_logged_models(workspace, [info.experiment_id],
                                                  max_results=1000)
        for logged in page.items:
            if logged.source_run_id == run_id and logged.name == name:
                return self._artifact_rel(logged.artifact_location), logged.model_id
        return None

    @staticmethod
    def _artifact_rel(location: str) -> str:
        rest = location[len(ARTIFACT_SCHEME):] if location.startswith(ARTIFACT_SCHEME) \
            else location
        if rest.startswith("//"):
            rest = rest[2:].partition("/")[2]
        return safe_relpath(rest)

    def _flavors(self, workspace: str, rel: str, what: str,
                 source: str) -> dict[str, dict[str, object]]:
        """The ``flavors`` of the MLmodel file at the top of an mlflow_model folder."""
        mlmodel = self.tracking.mlflow_artifact_path(workspace, f"{rel}/MLmodel")
        if not self.artifacts.exists(mlmodel):
            raise InvalidInputError(
                f"{what}: type mlflow_model needs an MLmodel file at the top of its folder, and "
                f"{source} has none (save the model with mlflow.<flavor>.save_model, or "
                "register it as type custom_model)")
        if self.artifacts.size(mlmodel) > MAX_MLMODEL_BYTES:
            raise InvalidInputError(f"{what}: the MLmodel file in {source} is over 1 MiB")
        with self.artifacts.open_read(mlmodel) as fh:
            raw = fh.read()
        try:
            data: Any = YAML(typ="safe").load(raw.decode("utf-8"))
        except (UnicodeDecodeError, YAMLError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InvalidInputError(f"{what}: the MLmodel file in {source} is not readable "
                                    f"YAML: {reason}") from exc
        flavors = data.get("flavors") if isinstance(data, dict) else None
        if not isinstance(flavors, dict) or not flavors:
            raise InvalidInputError(f"{what}: the MLmodel file in {source} has no flavors")
        return {str(k): dict(v) if isinstance(v, dict) else {} for k, v in flavors.items()}


def parse_version(version: int | str | None, name: str) -> int:
    text = str(version).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:   # "³".isdigit()
        raise InvalidInputError(f"model {name!r}: version {version!r} is not a positive "
                                "integer (model versions are integers, as in MLflow)")
    return int(text)


def _copy_file(src: ArtifactStore, src_path: str, dst: ArtifactStore, dst_path: str) -> None:
    local = src.local_path(src_path)
    if local is not None and local.is_file():
        dst.put_local(local, dst_path)
        return
    with src.open_read(src_path) as fin, dst.open_write(dst_path) as fout:
        while chunk := fin.read(1 << 20):
            fout.write(chunk)
