"""The Python SDK: MLClient and its operation groups, over HTTP only."""

import sys as _sys
from pathlib import Path as _Path

# httpx's package import also imports its own command line (click, rich, pygments) when those
# are installed, as typer installs them: a third of its import time, for a CLI the SDK never
# runs. Marked absent, it is skipped (httpx's __init__ expects that ImportError). Here, before
# any SDK module imports httpx.
if "httpx" not in _sys.modules:
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ember.specs._flow_loader import register_flow_loader as _register_flow_loader

if _TYPE_CHECKING:
    from ember.entities.components import Component as _Component


def _flow_component(path: _Path) -> "_Component":
    # Imported on first use: the flow engine is not loaded for YAML without a flow step.
    from ember.client.flow_components import flow_component

    return flow_component(path)


# Pipeline YAML loads in the specs layer, below the flow engine; a step whose component is a
# prompt flow (component: ./flow.dag.yaml) is built by this function.
_register_flow_loader(_flow_component)
