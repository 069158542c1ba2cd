from __future__ import annotations

import abc
from collections.abc import Sequence

from ember.entities.audit import AuditEntry


class AuditStore(abc.ABC):
    """The audit log: append-only (no update or delete in this interface)."""

    @abc.abstractmethod
    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Add entries, in order, in one transaction."""

    @abc.abstractmethod
    def list(self, *, workspace: str | None = None, user: str | None = None,
             since: float | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Entries oldest first (the last ``limit`` of them), filtered when asked."""
