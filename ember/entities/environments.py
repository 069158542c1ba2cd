from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Environment:
    """An environment version, or an inline one (``name`` empty) carried by a job.

    ``conda_file`` is the parsed conda YAML; ``pip_requirements`` the lines of a requirements file.
    """

    name: str = ""
    version: str = ""
    image: str | None = None
    conda_file: dict[str, Any] | None = None
    pip_requirements: list[str] | None = None
    build: dict[str, Any] | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    os_type: str = "linux"
    inference_config: dict[str, Any] | None = None
    creation_time: float = 0.0

    def build_hash(self) -> str | None:
        """Hash of what defines a built environment; None when there is nothing to build."""
        if self.conda_file is None and self.pip_requirements is None:
            return None
        payload = json.dumps(
            {"conda": self.conda_file, "pip": self.pip_requirements}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
