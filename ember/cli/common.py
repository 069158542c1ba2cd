"""What every command shares: the client, and entity → plain dict for output."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ember.client.mlclient import MLClient

_options: dict[str, str | None] = {"endpoint": None, "workspace": None}


def configure(endpoint: str | None, workspace: str | None) -> None:
    _options["endpoint"] = endpoint
    _options["workspace"] = workspace


def client() -> MLClient:
    return MLClient(endpoint=_options["endpoint"], workspace=_options["workspace"])


def plain(entity: Any) -> dict[str, Any]:
    return asdict(entity) if hasattr(entity, "__dataclass_fields__") else dict(entity)
