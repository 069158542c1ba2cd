"""``promptflow.entities``: the connection classes (what flow code imports from here)."""

from __future__ import annotations

from ember.flows.promptflow_compat.connections import (
                                                       AzureContentSafetyConnection,
                                                       AzureOpenAIConnection,
                                                       CognitiveSearchConnection,
                                                       CustomConnection,
                                                       FormRecognizerConnection,
                                                       OpenAIConnection,
                                                       SerpConnection,
)

__all__ = ["AzureContentSafetyConnection", "AzureOpenAIConnection", "CognitiveSearchConnection",
           "CustomConnection", "FormRecognizerConnection", "OpenAIConnection", "SerpConnection"]
