from __future__ import annotations

from ember.entities.data import DataAsset
from ember.store.versioned import VersionedAssetStore


class DataAssetStore(VersionedAssetStore[DataAsset]):
    """Data asset versions."""
