"""A registered model's files as a local folder for workers and batch jobs."""

from __future__ import annotations

import os
import posixpath
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ember.artifacts.store import ArtifactStore
from ember.engine.environments import WHEELS_ONLY_TAG, requirements_of
from ember.entities.environments import Environment
from ember.entities.models import Model
from ember.errors import SpecError
from ember.specs._schema import plain
from ember.specs.yamlio import load_yaml


def materialize(artifacts: ArtifactStore, home: Path, workspace: str,
                model: Model) -> tuple[str, str]:
    """(AZUREML_MODEL_DIR, the model's own folder or file inside it). The registered folder
    keeps its base name under AZUREML_MODEL_DIR, as on Azure. A local artifact store is linked,
    not copied; a remote one is downloaded once per version."""
    # a user registry's model: its files, and the one local folder of them, are its registry's
    workspace = model.files_workspace(workspace)
    stored = f"workspaces/{workspace}/mlartifacts/{model.artifact_path}"
    base = posixpath.basename(model.artifact_path.rstrip("/"))
    if base == "artifacts":   # an MLflow logged model: call it "model", as log_model does
        base = "model"
    root = home / "serving" / "models" / workspace / model.name / str(model.version)
    target = root / base
    if not target.exists() and not target.is_symlink():
        root.mkdir(parents=True, exist_ok=True)
        local = artifacts.local_path(stored)
        if local is not None:
            target.symlink_to(local, target_is_directory=local.is_dir())
        else:
            artifacts.get_local(stored, target)
    # the real path: MLflow refuses a model folder reached through a symlink
    return str(root), os.path.realpath(target)


def mlflow_environment(model_path: str) -> Environment | None:
    """The environment a no-code MLflow model runs in: None (the server's Python) when every
    package the model needs is installed here, else an environment built from the model's own
    pins, as Azure builds one from the model's dependencies: its ``conda.yaml`` when it has one
    (as job environments read conda files: the pip section, and conda packages as pip pins;
    the Python pin is not honoured: the server's Python is used, and the job or deployment log
    says so), else its ``requirements.txt``."""
    folder = Path(model_path)
    conda = model_conda(folder)
    if conda is not None:
        env = Environment(conda_file=conda, tags=dict(_FROM_MODEL))
        return env if missing_packages(requirements_of(env)[0]) else None
    reqs = model_requirements(folder)
    return Environment(pip_requirements=reqs, tags=dict(_FROM_MODEL)) \
        if missing_packages(reqs) else None


# wheels only: pins saved under another Python fail at resolution, naming the package, instead
# of compiling for minutes (online deployments and batch scoring jobs alike)
_FROM_MODEL = {WHEELS_ONLY_TAG: "true"}


def model_conda(folder: Path) -> dict[str, Any] | None:
    """The ``conda.yaml`` of an MLflow model folder as plain data, or None when it has none
    (or it is not a conda mapping with a dependency list)."""
    try:
        data = plain(load_yaml(folder / "conda.yaml"))
    except SpecError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        return None
    return data


def conda_python(conda: dict[str, Any] | None) -> str | None:
    """The Python version a conda file pins (``python=3.8.10`` -> ``3.8.10``), if any."""
    for dep in (conda or {}).get("dependencies") or []:
        if isinstance(dep, str) and dep.replace(" ", "").startswith("python="):
            return dep.split("=", 1)[1].strip().lstrip("=")
    return None


def model_requirements(folder: Path) -> list[str]:
    """The requirement lines of an MLflow model folder's ``requirements.txt`` (none: [])."""
    try:
        text = (folder / "requirements.txt").read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return []
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith(("#", "-"))]


def missing_packages(requirements: list[str]) -> list[str]:
    """The requirements whose distribution is not installed in this Python (by name; a
    different installed version counts as present, as MLflow itself only warns then)."""
    missing = []
    for line in requirements:
        try:
            name = Requirement(line).name
        except InvalidRequirement:
            missing.append(line)
            continue
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(line)
    return missing
