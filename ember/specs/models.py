"""Model YAML (reference 1.7) → :class:`~ember.entities.models.Model`.

``path`` is a local file or folder (resolved relative to the YAML; the CLI and SDK upload it) or
a URI: ``azureml://datastores/...``, ``azureml://jobs/<job>/outputs/<o>``, ``runs:/<run>/<p>``,
``models:/<id>`` or ``mlflow-artifacts:/...``. ``version`` is an integer (absent: the next one).
``triton_model`` is refused: Ember has no Triton server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.entities.models import MODEL_TYPES, STAGES, Model
from ember.specs._schema import Ctx, Section, asset_name, load_spec

MODEL_KEYS = ("$schema", "name", "version", "description", "tags", "properties", "type", "path",
              "flavors", "stage", "job_name")


def load_model_spec(path: Path, overrides: list[str] | None = None) -> Model:
    """Load a model YAML file, apply ``--set`` overrides, validate.

    Raises SpecError naming the file, line and key of the first problem.
    """
    data, ctx = load_spec(path, overrides)
    return model_from_section(Section(ctx, data))


def model_from_dict(data: dict[str, Any], source: str, base_dir: Path) -> Model:
    """Validate a loaded model mapping; local paths resolve relative to ``base_dir``."""
    return model_from_section(Section(Ctx(source, Path(base_dir), {}), data))


def model_from_section(sec: Section, default_name: str | None = None) -> Model:
    """A model mapping; ``default_name`` names an inline model (a deployment's) without one."""
    sec.check_keys(MODEL_KEYS)
    name = asset_name(sec, required=default_name is None) or default_name or ""
    if sec.get("type") == "triton_model":
        sec.fail("type", "triton_model is not supported (Ember has no Triton inference server)",
                 hint="register it as custom_model and deploy it with a scoring script")
    type_ = sec.get_choice("type", MODEL_TYPES, "custom_model") or "custom_model"
    sec.get_str("path", required=True)
    path = sec.path_or_uri("path", kind="any") or ""
    version = sec.get("version")
    if version is not None and (isinstance(version, bool) or not str(version).isdigit()
                                or int(str(version)) < 1):
        sec.fail("version", f"'{version}' is not a positive integer",
                 hint="model versions are integers (as in MLflow); leave it out for the next")
    flavors = sec.get("flavors")
    if flavors is not None and not isinstance(flavors, dict):
        sec.fail("flavors", "must be a mapping of flavor name to its settings")
    return Model(
        name=name,
        version=int(str(version)) if version is not None else 0,
        path=path,
        source=path,
        type=type_,
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"),
        properties=sec.get_str_map("properties"),
        flavors={str(k): dict(v or {}) for k, v in (flavors or {}).items()},
        stage=sec.get_choice("stage", STAGES, "None") or "None",
        run_id=sec.get_str("job_name") or "",
    )
