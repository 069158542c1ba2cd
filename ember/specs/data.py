"""Data asset YAML (reference 1.6) → :class:`~ember.entities.data.DataAsset`.

A local ``path`` is resolved relative to the YAML into an absolute path that must exist
(``uri_file`` a file; ``uri_folder`` and ``mltable`` a folder, the latter holding an ``MLTable``
file); a URI is kept as written. ``version`` absent → "" (the service assigns one).
``properties`` is validated but not kept (the entity has no such field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.entities.data import DATA_TYPES, DataAsset
from ember.specs._schema import Ctx, Section, asset_name, asset_version, load_spec

DATA_KEYS = ("$schema", "name", "version", "description", "tags", "type", "path", "properties")
_PATH_KIND = {"uri_file": "file", "uri_folder": "dir", "mltable": "dir"}


def load_data_spec(path: Path, overrides: list[str] | None = None) -> DataAsset:
    """Load a data asset YAML file, apply ``--set`` overrides, validate.

    Raises SpecError naming the file, line and key of the first problem.
    """
    data, ctx = load_spec(path, overrides)
    return data_from_section(Section(ctx, data))


def data_from_dict(data: dict[str, Any], source: str, base_dir: Path, *,
                   overridden: dict[str, str] | None = None) -> DataAsset:
    """Validate a loaded data asset mapping; local paths resolve relative to ``base_dir``."""
    return data_from_section(Section(Ctx(source, Path(base_dir), overridden or {}), data))


def data_from_section(sec: Section) -> DataAsset:
    """Build the DataAsset from its top-level mapping."""
    sec.check_keys(DATA_KEYS)
    name = asset_name(sec, required=True)
    type_ = sec.get_choice("type", DATA_TYPES, "uri_folder") or "uri_folder"
    sec.get_str("path", required=True)
    path = sec.path_or_uri("path", kind=_PATH_KIND[type_]) or ""
    if type_ == "mltable" and Path(path).is_absolute() and not (Path(path) / "MLTable").is_file():
        sec.fail("path", f"an mltable folder must contain an 'MLTable' file: {path}")
    sec.get_str_map("properties")
    return DataAsset(
        name=name,
        version=asset_version(sec),
        path=path,
        type=type_,
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"),
    )
