from __future__ import annotations

import time

from ember.artifacts.uris import is_azureml_uri, is_remote_uri
from ember.entities.data import DATA_TYPES, DataAsset
from ember.errors import InvalidInputError
from ember.services.datastores import DatastoreService
from ember.entities.names import check_name
from ember.store.data import DataAssetStore


class DataService:
    def __init__(self, data: DataAssetStore, datastores: DatastoreService) -> None:
        self.data = data
        self.datastores = datastores

    def create(self, workspace: str, asset: DataAsset) -> DataAsset:
        check_name("data asset", asset.name)
        if asset.type not in DATA_TYPES:
            raise InvalidInputError(
                f"data asset {asset.name!r}: type {asset.type!r} is not one of "
                f"{', '.join(DATA_TYPES)}")
        if not asset.path:
            raise InvalidInputError(f"data asset {asset.name!r} needs a path")
        if is_azureml_uri(asset.path):
            store, rel = self.datastores.locate_uri(workspace, asset.path)
            if not store.exists(rel):
                raise InvalidInputError(f"data asset {asset.name!r}: {asset.path} does not exist")
            if asset.type == "uri_file" and store.isdir(rel):
                raise InvalidInputError(
                    f"data asset {asset.name!r} is a uri_file but {asset.path} is a folder")
            if asset.type in ("uri_folder", "mltable") and not store.isdir(rel):
                raise InvalidInputError(
                    f"data asset {asset.name!r} is a {asset.type} but {asset.path} is a file")
        elif not is_remote_uri(asset.path):
            raise InvalidInputError(
                f"data asset {asset.name!r}: local path {asset.path!r} must be uploaded first "
                "(the CLI and SDK do this for you)")
        asset.creation_time = time.time()
        return self.data.create(workspace, asset)

    def get(self, workspace: str, name: str, version: str | None = None) -> DataAsset:
        return self.data.get(workspace, name, version)

    def list(self, workspace: str, name: str | None = None) -> list[DataAsset]:
        return self.data.list(workspace, name)
