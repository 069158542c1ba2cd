from __future__ import annotations

import builtins
import posixpath
import time
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ember.artifacts.store import ArtifactStore, FileInfo, safe_relpath
from ember.artifacts.uris import is_azureml_uri, is_remote_uri
from ember.entities.data import DATA_TYPES, DataAsset
from ember.errors import InvalidInputError, NotFoundError
from ember.services import data_preview
from ember.services.data_preview import Table
from ember.services.datastores import DatastoreService
from ember.entities.names import check_name
from ember.store.data import DataAssetStore

MAX_LISTED_FILES = 1000
MAX_MLTABLE_BYTES = 256 << 10


@dataclass
class Preview:
    """A data asset's files (the first ``MAX_LISTED_FILES``) and one file's first rows."""

    table: Table
    files: list[FileInfo]
    file_count: int


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

    # --- files: an asset's own files, read where its datastore keeps them ------------------

    def _root(self, workspace: str, asset: DataAsset) -> tuple[ArtifactStore, str]:
        if not is_azureml_uri(asset.path):
            raise InvalidInputError(
                f"data asset '{asset.name}:{asset.version}' is at {asset.path}, outside the "
                "workspace's datastores: the server does not read its files")
        store, rel = self.datastores.locate_uri(workspace, asset.path)
        if not store.exists(rel):
            raise NotFoundError(f"data asset '{asset.name}:{asset.version}': {asset.path} "
                                "no longer exists")
        return store, rel

    def files(self, workspace: str, name: str, version: str) -> tuple[builtins.list[FileInfo], int]:
        """The first ``MAX_LISTED_FILES`` files of a version (paths relative to its path),
        and how many it has in all."""
        asset = self.get(workspace, name, version)
        store, root = self._root(workspace, asset)
        if not store.isdir(root):
            return [FileInfo(posixpath.basename(root), False, store.size(root))], 1
        found: list[FileInfo] = []
        count = 0
        for rel in store.walk_files(root):
            if count < MAX_LISTED_FILES:
                found.append(FileInfo(rel, False, store.size(f"{root}/{rel}")))
            count += 1
        return found, count

    def file_location(self, workspace: str, name: str, version: str,
                      rel: str) -> tuple[ArtifactStore, str]:
        """(store, path) of one file of a version; ``rel`` is confined to the asset's path."""
        asset = self.get(workspace, name, version)
        return self._file_of(workspace, asset, rel)

    def _file_of(self, workspace: str, asset: DataAsset, rel: str) -> tuple[ArtifactStore, str]:
        clean = safe_relpath(rel)
        store, root = self._root(workspace, asset)
        missing = NotFoundError(f"data asset '{asset.name}:{asset.version}' has no file {rel!r}")
        if not store.isdir(root):
            if clean not in ("", posixpath.basename(root)):
                raise missing
            return store, root
        if not clean:
            raise InvalidInputError(f"data asset '{asset.name}:{asset.version}' is a folder: "
                                    "name one of its files")
        target = f"{root}/{clean}"
        if not store.exists(target) or store.isdir(target):
            raise missing
        return store, target

    def preview(self, workspace: str, name: str, version: str, path: str | None = None,
                rows: int = 20) -> Preview:
        """The first ``rows`` rows of ``path`` (by default: the file itself, an MLTable's
        first file, or a folder's first CSV/TSV/Parquet file) and the asset's files."""
        data_preview.check_rows(rows)
        asset = self.get(workspace, name, version)
        files, count = self.files(workspace, name, version)
        delimiter: str | None = None
        if path:
            chosen: str | None = path
        elif asset.type == "uri_file":
            chosen = files[0].path
        else:
            chosen, delimiter = (self._mltable_file(workspace, asset)
                                 if asset.type == "mltable" else (None, None))
            if chosen is None:
                chosen = next((f.path for f in files if data_preview.is_tabular(f.path)), None)
        if chosen is None:
            return Preview(Table("", "", note="no CSV, TSV or Parquet file in this asset"),
                           files, count)
        store, target = self._file_of(workspace, asset, chosen)
        shown = safe_relpath(chosen) or posixpath.basename(target)
        return Preview(self._read_table(store, target, shown, rows, delimiter), files, count)

    @staticmethod
    def _read_table(store: ArtifactStore, target: str, shown: str, rows: int,
                    delimiter: str | None) -> Table:
        kind = data_preview.file_format(shown, delimiter)
        size = store.size(target)
        if kind == "parquet":
            with store.open_read(target) as fh:
                return data_preview.read_parquet(shown, fh, size, rows)
        if kind in ("csv", "tsv"):
            head = store.read_range(target, 0, data_preview.MAX_DELIMITED_BYTES)
            return data_preview.read_delimited(
                shown, head, size <= data_preview.MAX_DELIMITED_BYTES, rows,
                delimiter or ("\t" if kind == "tsv" else ","))
        return Table(shown, "", note="only CSV, TSV and Parquet files are previewed")

    def _mltable_file(self, workspace: str, asset: DataAsset) -> tuple[str | None, str | None]:
        """The first ``file:`` of the asset's MLTable, and its read_delimited delimiter."""
        store, root = self._root(workspace, asset)
        spec = f"{root}/MLTable"
        if not store.exists(spec) or store.size(spec) > MAX_MLTABLE_BYTES:
            return None, None
        try:
            data: Any = YAML(typ="safe").load(store.read_range(spec, 0, MAX_MLTABLE_BYTES))
        except (YAMLError, UnicodeDecodeError):
            return None, None
        if not isinstance(data, dict):
            return None, None
        delimiter = None
        for step in data.get("transformations") or []:
            if isinstance(step, dict) and isinstance(step.get("read_delimited"), dict):
                delimiter = str(step["read_delimited"].get("delimiter") or ",")
        for entry in islice(data.get("paths") or [], 100):
            file = entry.get("file") if isinstance(entry, dict) else None
            if isinstance(file, str) and not is_remote_uri(file) and not file.startswith("/"):
                try:
                    return safe_relpath(file), delimiter
                except InvalidInputError:
                    return None, delimiter
        return None, delimiter
