from __future__ import annotations

from ember.entities.environments import Environment
from ember.store.versioned import VersionedAssetStore


class EnvironmentStore(VersionedAssetStore[Environment]):
    """Environment versions."""
