from __future__ import annotations

from pydantic import Field

from ember.entities.data import DataAsset
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
