from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Workspace:
    name: str
    description: str = ""
    display_name: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0
    # soft-deleted (``ember workspace delete``): hidden and unreachable; the name stays taken
    deleted_at: float | None = None


DEFAULT_WORKSPACE = "default"
