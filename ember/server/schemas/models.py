"""Request/response types of the model registry's Ember routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ember.artifacts.store import FileInfo
from ember.entities.models import Model
from ember.server.schemas.base import Body, Description, Properties, Tags


class ModelIn(Body):
    name: str
    version: int = 0
    path: str
    source: str = ""
    type: str = "custom_model"
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    flavors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    stage: str = "None"
    run_id: str = ""

    def entity(self) -> Model:
        return Model(name=self.name, version=self.version, path=self.path, source=self.source,
                     type=self.type, description=self.description, tags=self.tags,
                     properties=self.properties, flavors=self.flavors, stage=self.stage,
                     run_id=self.run_id)


class ModelUpdate(Body):
    description: Description | None = None
    tags: Tags | None = None
    properties: Properties | None = None
    stage: str | None = None


class ModelOut(BaseModel):
    id: str
    name: str
    version: int
    path: str
    source: str
    type: str
    description: str
    tags: dict[str, str]
    properties: dict[str, str]
    flavors: dict[str, dict[str, Any]]
    job_name: str
    model_id: str
    stage: str
    archived: bool
    aliases: list[str]
    creation_time: int
    last_update_time: int
    registry: str = ""   # "azureml" for a model of the built-in catalog

    @classmethod
    def of(cls, m: Model) -> ModelOut:
        return cls(id=m.id, name=m.name, version=m.version, path=m.path, source=m.source,
                   type=m.type, description=m.description, tags=m.tags,
                   properties=m.properties, flavors=m.flavors, job_name=m.run_id,
                   model_id=m.model_id, stage=m.stage, archived=m.archived,
                   aliases=m.aliases, creation_time=m.creation_time,
                   last_update_time=m.last_update_time, registry=m.registry)


class ModelFileOut(BaseModel):
    path: str
    size: int | None

    @classmethod
    def of(cls, f: FileInfo) -> ModelFileOut:
        return cls(path=f.path, size=f.file_size)
