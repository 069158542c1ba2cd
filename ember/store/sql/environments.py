from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ember.entities.environments import Environment
from ember.store.environments import EnvironmentStore
from ember.store.sql import tables as t
from ember.store.sql.versioned import SqlVersionedStore


class SqlEnvironmentStore(SqlVersionedStore[Environment], EnvironmentStore):
    table = t.environment_versions
    kind = "environment"

    def _row(self, asset: Environment) -> dict[str, Any]:
        return {"name": asset.name, "version": asset.version, "spec": asdict(asset),
                "creation_time": asset.creation_time}

    def _entity(self, row: Any) -> Environment:
        spec = dict(row.spec)
        spec.update(name=row.name, version=row.version)
        return Environment(**spec)
