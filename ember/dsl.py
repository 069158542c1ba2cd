"""``from ember.dsl import pipeline`` (as ``from azure.ai.ml.dsl import pipeline``).

The public place of the pipeline DSL: :func:`pipeline` and :func:`load_component`, and the
classes they return. The code lives in :mod:`ember.client.dsl` (the SDK layer), which stays
importable; this module only re-exports it.
"""

from ember.client.dsl import (
    ArgumentError,
    ComponentFunc,
    NodeOutput,
    PipelineFunc,
    PipelineNode,
    UnknownOutputError,
    load_component,
    pipeline,
)

__all__ = ["ArgumentError", "ComponentFunc", "NodeOutput", "PipelineFunc", "PipelineNode",
           "UnknownOutputError", "load_component", "pipeline"]
