from __future__ import annotations

from pydantic import BaseModel, Field

from ember.artifacts.store import FileInfo
from ember.entities.data import DataAsset
from ember.services.data import Preview
from ember.server.schemas.base import Body, Description, Tags


class DataIn(Body):
    name: str
    version: str = ""
    type: str = "uri_folder"
    path: str
    description: Description = ""
    tags: Tags = Field(default_factory=dict)

    def entity(self) -> DataAsset:
        return DataAsset(name=self.name, version=str(self.version or ""), type=self.type,
                         path=self.path, description=self.description, tags=self.tags)


class DataOut(DataIn):
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    creation_time: float
    id: str

    @classmethod
    def of(cls, d: DataAsset) -> DataOut:
        return cls(name=d.name, version=d.version, type=d.type, path=d.path,
                   description=d.description, tags=d.tags, creation_time=d.creation_time,
                   id=f"azureml:{d.name}:{d.version}")


class DataFileOut(BaseModel):
    path: str
    size: int | None

    @classmethod
    def of(cls, f: FileInfo) -> DataFileOut:
        return cls(path=f.path, size=f.file_size)


class DataFilesOut(BaseModel):
    files: list[DataFileOut]
    count: int          # files in all; ``files`` holds the first 1000


class DataPreviewOut(BaseModel):
    path: str           # the file previewed, relative to the asset's path ("" when none)
    format: str         # csv, tsv, parquet; "" when the file is not tabular or there is none
    columns: list[str]
    rows: list[list[str]]
    truncated: bool     # the file has more rows than shown
    note: str           # why there is no table, when there is none
    files: list[DataFileOut]
    file_count: int

    @classmethod
    def of(cls, p: Preview) -> DataPreviewOut:
        t = p.table
        return cls(path=t.path, format=t.format, columns=t.columns, rows=t.rows,
                   truncated=t.truncated, note=t.note,
                   files=[DataFileOut.of(f) for f in p.files], file_count=p.file_count)
