"""The built-in ``azureml`` registry: Azure's fine-tuning, evaluation and Responsible AI
components, as Ember runs them.

Azure ML pipelines name these as ``azureml://registries/azureml/components/<name>/labels/latest``
(or ``/versions/<v>``); ``az ml component list|show --registry-name azureml`` reads them. Ember
ships one definition of each, a YAML file in ``azureml_components/`` read with the ordinary
component and pipeline-component loaders, so they run as ordinary pipeline steps (reuse, lineage
and sweeps apply):

- command components ``chat_completion_finetune``, ``text_generation_finetune``,
  ``chat_completion_datapreprocess``, ``text_generation_datapreprocess``, ``model_prediction``,
  ``compute_metrics``: each runs ``python -m ember.finetune.<module>`` on the server's own Python,
  in the job's overlay venv (``environment`` None, as for prompt flow steps): the YAML names
  Azure's environment for the reader, and the loader drops it;
- command components ``rai_tabular_insight_constructor``, ``rai_tabular_explanation``,
  ``rai_tabular_erroranalysis``, ``rai_tabular_counterfactual``, ``rai_tabular_causal``,
  ``rai_tabular_insight_gather``, ``rai_tabular_score_card`` (the Responsible AI dashboard and
  score card), each ``python -m ember.rai.<module>`` on the server's Python, as above;
- pipeline components ``chat_completion_pipeline``, ``text_generation_pipeline``,
  ``model_evaluation_pipeline``, whose steps name the command components above by registry
  reference (resolved here, when the registry is read).

Decisions: the registry is read-only; every version of a name is Ember's one definition (an
Azure YAML pinned to ``/versions/0.0.60`` runs), shown with the version Ember's follows. A name
the registry does not have is a NotFoundError listing the ones it has. A ``huggingface_id`` given
to a component that has one is refused when the step is made (Ember does not download models).
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.entities.components import Component
from ember.entities.pipelines import PipelineJob
from ember.errors import InvalidInputError, NotFoundError

REGISTRY = "azureml"
REGISTRY_TAG = "ember.registry"
SPECS = Path(__file__).with_name("azureml_components")
_PIPELINE_TYPE = re.compile(r"^type:\s*pipeline\s*$", re.MULTILINE)   # the top-level key


def huggingface_refusal(model_id: str) -> str:
    """Why a ``huggingface_id`` is refused, and what to give instead."""
    return (f"huggingface_id {model_id!r}: Ember does not download models from the Hugging Face "
            "Hub; give mlflow_model_path or pytorch_model_path instead, with a model of the "
            "built-in catalog (azureml://registries/azureml/models/<name>/labels/latest; "
            "'ember model list --registry-name azureml') or a workspace model "
            "(azureml:<name>:<version>, registered with 'ember model create')")


@dataclass(frozen=True)
class BuiltinComponent:
    """A component of the registry: ``component`` is a command component, or a pipeline
    component's interface (``type`` "pipeline", its declared inputs and outputs) whose body is
    ``pipeline``."""

    component: Component
    pipeline: PipelineJob | None = None


def check_registry(registry: str) -> None:
    if registry != REGISTRY:
        raise NotFoundError(f"registry {registry!r} does not exist; Ember has one registry, "
                            f"{REGISTRY!r} (its built-in components)")


def registry_reference(name: str, version: str | None = None) -> str:
    tail = f"versions/{version}" if version else "labels/latest"
    return f"azureml://registries/{REGISTRY}/components/{name}/{tail}"


def names() -> list[str]:
    return sorted(_definitions())


def get(name: str, version: str | None = None) -> BuiltinComponent:
    """A fresh copy of component ``name`` (any version: see the module's notes). Raises
    NotFoundError listing the registry's components."""
    found = _definitions().get(name)
    if found is None:
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise NotFoundError(f"component {name!r} is not in the built-in {REGISTRY} registry"
                            f"{hint}; it has: {', '.join(names())}")
    return copy.deepcopy(found)


def list_components(name: str | None = None) -> list[Component]:
    """Every component (interfaces for pipeline components), by name; with ``name``, its one
    version."""
    if name is not None:
        return [get(name).component]
    return [get(n).component for n in names()]


def is_builtin(component: Component | None) -> bool:
    return component is not None and component.tags.get(REGISTRY_TAG) == REGISTRY


def check_step_values(component: Component | None, values: Mapping[str, Any], where: str) -> None:
    """Refuse, when a step is made, what a built-in component cannot do with the values its
    inputs are known to have (literals, or the pipeline's own inputs)."""
    if not is_builtin(component):
        return
    model_id = values.get("huggingface_id")
    if model_id not in (None, ""):
        raise InvalidInputError(f"{where}: {huggingface_refusal(str(model_id))}")


@functools.cache
def _definitions() -> dict[str, BuiltinComponent]:
    from ember.specs.components import load_component_spec
    from ember.specs.pipelines import check_pipeline_graph, load_pipeline_component_spec

    files = sorted(SPECS.glob("*.yml"))
    found: dict[str, BuiltinComponent] = {}
    pipelines = []
    for path in files:
        if _PIPELINE_TYPE.search(path.read_text(encoding="utf-8")):
            pipelines.append(path)
            continue
        comp = load_component_spec(path)
        comp.environment = None   # the server's Python (see the module's notes)
        _mark(comp)
        found[comp.name] = BuiltinComponent(comp)
    for path in pipelines:
        interface, body = load_pipeline_component_spec(path)
        for step in body.jobs.values():
            ref = step.component_ref
            if ref is None:
                continue
            inner = found[_registry_name(ref)]
            step.component = copy.deepcopy(inner.component)
            step.component_ref = None
        check_pipeline_graph(body, str(path))
        _mark(interface)
        interface.tags = {**body.tags, **interface.tags}
        found[interface.name] = BuiltinComponent(interface, body)
    return found


def _mark(comp: Component) -> None:
    comp.tags = {**comp.tags, REGISTRY_TAG: REGISTRY}


def _registry_name(reference: str) -> str:
    from ember.specs.references import parse_asset_reference

    ref = parse_asset_reference(reference)
    assert ref.registry == REGISTRY and ref.kind == "components", reference
    return ref.name
