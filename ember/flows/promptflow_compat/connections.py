"""``promptflow.connections``: Ember's connection classes under promptflow's names, plus the
types Ember does not resolve from a store yet (plain attribute holders, so annotations and
isinstance checks in user code keep working)."""

from __future__ import annotations

from typing import Any

from ember.flows.connections import (
    AzureOpenAIConnection,
    ConnectionProvider,
    CustomConnection,
    OpenAIConnection,
    SerpConnection,
    ServerlessConnection,
    _Connection,
)


class AzureContentSafetyConnection(_Connection):
    type = "azure_content_safety"


class CognitiveSearchConnection(_Connection):
    type = "cognitive_search"


class FormRecognizerConnection(_Connection):
    type = "form_recognizer"


class AzureAIServicesConnection(_Connection):
    type = "azure_ai_services"


class CustomStrongTypeConnection(_Connection):
    """Base of user-defined typed connections; fields are class annotations."""

    type = "custom"

    def __init__(self, secrets: dict[str, str] | None = None,
                 configs: dict[str, Any] | None = None, name: str | None = None,
                 **extra: Any) -> None:
        super().__init__(name=name, **{**(configs or {}), **(secrets or {}), **extra})


__all__ = ["AzureAIServicesConnection", "AzureContentSafetyConnection", "AzureOpenAIConnection",
           "CognitiveSearchConnection", "ConnectionProvider", "CustomConnection",
           "CustomStrongTypeConnection", "FormRecognizerConnection", "OpenAIConnection",
           "SerpConnection", "ServerlessConnection"]
