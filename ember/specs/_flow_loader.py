"""Where the client registers the function that builds a flow step's component
(:func:`ember.specs.flow_steps.register_flow_loader`). Its own small module, so the client
registers it without importing the YAML loaders: a ``pf flow test`` imports the client package
and needs none of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.entities.components import Component

# (path of a flow.dag.yaml / flow folder / run.yaml) -> the flow's component.
FlowLoader = Callable[[Path], "Component"]
loader: FlowLoader | None = None


def register_flow_loader(function: FlowLoader) -> None:
    """Set the function that builds a flow's component (``ember.client`` sets it)."""
    global loader
    loader = function
