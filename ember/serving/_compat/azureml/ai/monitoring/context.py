"""``azureml.ai.monitoring.context`` (Ember's worker shim): the correlation id that joins a
request's collected inputs and outputs (and ground truth, when you log it with that id)."""

from __future__ import annotations

import uuid


class BasicCorrelationContext:
    def __init__(self, id: str | None = None) -> None:   # noqa: A002 - Azure's name
        self.id = id or str(uuid.uuid4())

    def get_id(self) -> str:
        return self.id
