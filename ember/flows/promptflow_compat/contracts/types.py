"""``promptflow.contracts.types``: marker types tools annotate parameters with."""

from __future__ import annotations

from typing import Any


class PromptTemplate(str):
    """A Jinja2 template passed as a string input."""


class Secret(str):
    """A secret string (a connection key)."""


class FilePath(str):
    """A path to a file in the flow folder."""


class AttrDict(dict[str, Any]):
    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


__all__ = ["AttrDict", "FilePath", "PromptTemplate", "Secret"]
