"""The Python SDK: MLClient and its operation groups, over HTTP only."""

from pathlib import Path as _Path

from ember.entities.components import Component as _Component
from ember.specs.flow_steps import register_flow_loader as _register_flow_loader


def _flow_component(path: _Path) -> _Component:
    # Imported on first use: the flow engine is not loaded for YAML without a flow step.
    from ember.client.flow_components import flow_component

    return flow_component(path)


# Pipeline YAML loads in the specs layer, below the flow engine; a step whose component is a
# prompt flow (component: ./flow.dag.yaml) is built by this function.
_register_flow_loader(_flow_component)
