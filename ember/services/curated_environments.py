"""The built-in ``azureml`` registry: Azure's curated environments, as Ember builds them.

Azure ML jobs, components and deployments name curated environments as
``azureml://registries/azureml/environments/<name>/labels/latest`` (or ``/versions/<n>``) or, in
the workspace form, ``azureml:AzureML-<name>@latest`` / ``azureml:AzureML-<name>:<n>``. On Azure
each is a Docker image; Ember has no container runtime, so each *family* of curated names
(``sklearn-1.5``, ``AzureML-sklearn-1.0-ubuntu20.04-py38-cpu``... are the family ``sklearn``) is
a virtual environment built with uv from pinned pip requirements that have wheels for the
server's Python (3.11 to 3.13). Every version of a curated name maps to the same build; when
the name asks for a package version that Ember's pins do not give (``sklearn-1.0``: scikit-learn
1.0 has no wheels for Python 3.11), the job's log says which version it got instead.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from ember.entities.environments import Environment
from ember.errors import NotFoundError

REGISTRY = "azureml"
CURATED_PREFIX = "azureml-"          # workspace form: AzureML-<name> (case-insensitive)
VERSION = "1"                        # Ember's build of a family; bumped when its pins change
MLFLOW = "mlflow-skinny==3.17.2"     # jobs log through MLflow to Ember's server


@dataclass(frozen=True)
class Family:
    """One family of curated names and the pins Ember builds it from."""

    key: str                  # e.g. "sklearn"
    example: str              # the current Azure name, e.g. "sklearn-1.5"
    pattern: str              # matched against the lower-cased name without "AzureML-"
    package: str | None       # the package whose version a name carries ("scikit-learn")
    requirements: tuple[str, ...]
    description: str

    def pinned(self) -> str | None:
        """The version Ember pins for ``package``."""
        for req in self.requirements:
            name, _, version = req.partition("==")
            if name == self.package:
                return version
        return None


_DATA = ("pandas==2.2.3", "numpy==2.1.3", "scipy==1.14.1")
_SKLEARN = ("scikit-learn==1.5.2", "joblib==1.4.2")

FAMILIES: tuple[Family, ...] = (
    Family("sklearn", "sklearn-1.5", r"sklearn-", "scikit-learn",
           (*_SKLEARN, *_DATA, MLFLOW), "scikit-learn 1.5 with pandas, numpy, scipy and MLflow"),
    Family("lightgbm", "lightgbm-4.5", r"lightgbm-", "lightgbm",
           ("lightgbm==4.5.0", *_SKLEARN, *_DATA, MLFLOW),
           "LightGBM 4.5 with scikit-learn, pandas, numpy, scipy and MLflow"),
    Family("pytorch", "acpt-pytorch-2.13-cpu", r"(acpt-)?pytorch-|ptca-", "torch",
           ("torch==2.13.0", "numpy==2.1.3", MLFLOW),
           "PyTorch 2.13 (CPU; uv takes it from where pip is configured) with numpy and MLflow"),
    Family("tensorflow", "tensorflow-2.20-cpu", r"(acpt-)?tensorflow-", "tensorflow-cpu",
           ("tensorflow-cpu==2.20.0", MLFLOW), "TensorFlow 2.20 (CPU) with MLflow"),
    Family("minimal", "minimal-py311-inference", r"minimal-", None, (MLFLOW,),
           "the server's Python with MLflow only"),
    Family("mlflow", "mlflow-py312-inference", r"mlflow-", "mlflow-skinny",
           (MLFLOW, "pandas==2.2.3", "numpy==2.1.3"),
           "MLflow with pandas and numpy, for no-code MLflow model deployments"),
)

_VERSION_IN_NAME = re.compile(r"^[a-z-]*?-(\d+(?:\.\d+)+)")


def is_curated_name(name: str) -> bool:
    """True for a workspace-form curated name (``AzureML-...``)."""
    return name.lower().startswith(CURATED_PREFIX)


def known_names() -> str:
    return ", ".join(f"{f.example} ({f.key}-*)" for f in FAMILIES)


def family_of(name: str) -> Family:
    """The family a curated name belongs to; NotFoundError listing the known ones."""
    bare = name.lower()
    if bare.startswith(CURATED_PREFIX):
        bare = bare[len(CURATED_PREFIX):]
    for fam in FAMILIES:
        if re.match(fam.pattern, bare):
            return fam
    raise NotFoundError(
        f"curated environment {name!r} is not one Ember offers; the built-in azureml registry "
        f"has: {known_names()} (also as azureml:AzureML-<name>@latest). Register your own "
        "with 'ember environment create' and reference it as azureml:<name>:<version>")


def curated_environment(name: str, version: str | None = None) -> Environment:
    """The Environment Ember builds for curated ``name`` (any version or label)."""
    fam = family_of(name)
    notices = [f"curated environment {name} is Ember's {fam.key} build: {fam.description} "
               f"({', '.join(fam.requirements)})"]
    asked = _VERSION_IN_NAME.match(name.lower().removeprefix(CURATED_PREFIX))
    pinned = fam.pinned()
    if asked and pinned and fam.package and not pinned.startswith(asked[1] + ".") \
            and pinned != asked[1]:
        notices.append(f"{name} names {fam.package} {asked[1]}; Ember's build has {pinned}, "
                       f"which has wheels for this Python ({sys.version.split()[0]})")
    if version not in (None, "", VERSION):
        notices.append(f"version {version} of {name} is served by Ember's build {VERSION}")
    return Environment(
        name=name, version=version or VERSION, pip_requirements=list(fam.requirements),
        description=fam.description,
        tags={"azureml.curated": "true", "ember.registry": REGISTRY,
              "ember.notice": " | ".join(notices)})


def registry_reference(name: str, version: str) -> str:
    return f"azureml://registries/{REGISTRY}/environments/{name}/versions/{version}"
