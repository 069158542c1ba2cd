"""Registered models as pipeline inputs (private; used by :class:`ember.engine.pipelines.
PipelineService`).

Azure's fine-tuning and evaluation pipelines take their model as an input whose path is a model
reference: ``mlflow_model_path: {path: azureml://registries/azureml/models/<name>/versions/<v>}``,
``{type: custom_model, path: azureml:<name>:<version>}``. At submit, each such input becomes the
model's files on this machine (a catalog model's where its package put them, a workspace model's
registered folder), passed ``direct``: read where they are, never copied into each step, and
identified by that path in step reuse keys (a model version's files do not change). An input
written without a type takes the model's (``mlflow_model`` or ``custom_model``).

Which inputs: a path naming ``models`` (the registry and ARM-id forms), or a short reference
(``azureml:<name>:<version>``, ``azureml:<name>@latest``) on an input typed ``custom_model`` or
``mlflow_model``; a short reference on a data input stays a data asset.
"""

from __future__ import annotations

from ember.entities.jobs import JobInput
from ember.errors import EmberError, InvalidInputError, UnsupportedError
from ember.services.models import ModelService
from ember.specs.references import parse_asset_reference

MODEL_TYPES = ("custom_model", "mlflow_model")


def resolve_model_inputs(models: ModelService, workspace: str,
                         inputs: dict[str, JobInput]) -> None:
    """Point every model-reference input of ``inputs`` at the model's local files (in place).
    Raises what ModelService.resolve raises, prefixed with the input's name, and
    UnsupportedError for a model whose files are only in a remote artifact store."""
    for name, inp in inputs.items():
        if inp.is_literal or not inp.path or not inp.path.startswith("azureml:"):
            continue
        try:
            ref = parse_asset_reference(inp.path)
        except InvalidInputError:
            continue   # a datastore or job-output URI
        if ref.kind not in (None, "models") or (ref.kind is None and inp.type not in MODEL_TYPES):
            continue
        if ref.registry is not None:
            reference = inp.path
        else:
            reference = f"azureml:{ref.name}" + (f":{ref.version}" if ref.version else "@latest")
        try:
            model = models.resolve(workspace, reference)
            local = models.local_path(workspace, model)
        except EmberError as exc:
            raise type(exc)(f"input {name!r}: {exc.message}") from None
        if local is None:
            raise UnsupportedError(f"input {name!r}: the files of model {model.id} are in a "
                                   "remote artifact store; give their folder as the path")
        if inp.type not in MODEL_TYPES:
            inp.type = model.type if model.type in MODEL_TYPES else "custom_model"
        inp.path = str(local)
        inp.mode = "direct"
