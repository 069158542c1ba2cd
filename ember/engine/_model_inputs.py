"""Registered models as pipeline inputs (private; used by :class:`ember.engine.pipelines.
PipelineService`).

Azure's fine-tuning and evaluation pipelines take their model as an input whose path is a model
reference: ``mlflow_model_path: {path: azureml://registries/azureml/models/<name>/versions/<v>}``,
``{type: custom_model, path: azureml:<name>:<version>}``. At submit, each such input becomes the
model's files on this machine (a catalog model's where its package put them, a workspace model's
registered folder), passed ``direct``: read where they are, never copied into each step, and
identified by that path in step reuse keys (a model version's files do not change). An input
written without a type (Azure's examples write ``mlflow_model_path: {path: azureml://registries/
...}``) takes the model type of the component inputs it is bound to, else the model's own.

Which inputs: a path naming ``models`` (the registry and ARM-id forms), or a short reference
(``azureml:<name>:<version>``, ``azureml:<name>@latest``) on an input typed ``custom_model`` or
``mlflow_model``; a short reference on a data input stays a data asset.
"""

from __future__ import annotations

from ember.entities.jobs import JobInput
from ember.entities.pipelines import PipelineJob
from ember.errors import EmberError, InvalidInputError, UnsupportedError
from ember.services.models import ModelService
from ember.specs.references import parse_asset_reference

MODEL_TYPES = ("custom_model", "mlflow_model")


def resolve_model_inputs(models: ModelService, workspace: str,
                         inputs: dict[str, JobInput]) -> list[str]:
    """Point every model-reference input of ``inputs`` at the model's local files (in place);
    returns the names of those written without a model type. Raises what
    ModelService.resolve raises, prefixed with the input's name, and UnsupportedError for a
    model whose files are only in a remote artifact store."""
    untyped: list[str] = []
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
        # A remote artifact store's copy (s3://...) is downloaded into the job's folder.
        remote = models.location(workspace, model) if local is None else None
        if local is None and remote is None:
            raise UnsupportedError(f"input {name!r}: the files of model {model.id} are not on "
                                   "this machine; give their folder as the path")
        if inp.type not in MODEL_TYPES:
            inp.type = model.type if model.type in MODEL_TYPES else "custom_model"
            untyped.append(name)
        inp.path = str(local) if local is not None else str(remote)
        inp.mode = "direct" if local is not None else "download"
    return untyped


def type_from_consumers(pipeline: PipelineJob, names: list[str]) -> None:
    """Each input of ``names`` takes the model type of the first (resolved) step input bound
    to it, so an untyped catalog model (custom_model files) binds to an mlflow_model input."""
    for name in names:
        for step in pipeline.jobs.values():
            declared = step.component.inputs if step.component is not None else {}
            wanted = next((declared[port].type for port, binding in step.inputs.items()
                           if binding.parent_input == name and port in declared
                           and declared[port].type in MODEL_TYPES), None)
            if wanted is not None:
                pipeline.inputs[name].type = wanted
                break
