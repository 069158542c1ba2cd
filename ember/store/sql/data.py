from __future__ import annotations

from typing import Any

from ember.entities.data import DataAsset
from ember.store.data import DataAssetStore
from ember.store.sql import tables as t
from ember.store.sql.versioned import SqlVersionedStore


class SqlDataAssetStore(SqlVersionedStore[DataAsset], DataAssetStore):
    table = t.data_versions
    kind = "data asset"

    def _row(self, asset: DataAsset) -> dict[str, Any]:
        return {"name": asset.name, "version": asset.version, "type": asset.type,
                "path": asset.path, "description": asset.description, "tags": asset.tags,
                "creation_time": asset.creation_time}

    def _entity(self, row: Any) -> DataAsset:
        return DataAsset(name=row.name, version=row.version, type=row.type, path=row.path,
                         description=row.description, tags=dict(row.tags or {}),
                         creation_time=row.creation_time)
