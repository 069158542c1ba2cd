from __future__ import annotations

from dataclasses import dataclass, field

DATA_TYPES = ("uri_file", "uri_folder", "mltable")


@dataclass
class DataAsset:
    name: str
    version: str
    path: str
    type: str = "uri_folder"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0
