"""A registered model's files as a local folder for workers and batch jobs."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from ember.artifacts.store import ArtifactStore
from ember.entities.models import Model


def materialize(artifacts: ArtifactStore, home: Path, workspace: str,
                model: Model) -> tuple[str, str]:
    """(AZUREML_MODEL_DIR, the model's own folder or file inside it). The registered folder
    keeps its base name under AZUREML_MODEL_DIR, as on Azure. A local artifact store is linked,
    not copied; a remote one is downloaded once per version."""
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
