from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ember.server.schemas.base import Body, Description, DisplayName, Tags

from ember.entities.data import DataAsset
from ember.entities.datastores import Datastore
from ember.entities.environments import Environment
from ember.entities.workspaces import Workspace


class WorkspaceIn(Body):
    name: str
    display_name: DisplayName = ""
    description: Description = ""
    tags: Tags = Field(default_factory=dict)


class WorkspaceOut(WorkspaceIn):
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    creation_time: float
    mlflow_tracking_uri: str

    @classmethod
    def of(cls, ws: Workspace, base_url: str) -> WorkspaceOut:
        return cls(name=ws.name, display_name=ws.display_name, description=ws.description,
                   tags=ws.tags, creation_time=ws.creation_time,
                   mlflow_tracking_uri=f"{base_url}/workspaces/{ws.name}")


class DatastoreIn(Body):
    name: str
    type: str = "local"
    root: str
    description: Description = ""
    tags: Tags = Field(default_factory=dict)

    def entity(self) -> Datastore:
        return Datastore(name=self.name, type=self.type, root=self.root,
                         description=self.description, tags=self.tags)


class DatastoreOut(BaseModel):
    name: str
    type: str
    root: str
    description: str
    tags: dict[str, str]
    is_default: bool
    creation_time: float

    @classmethod
    def of(cls, ds: Datastore) -> DatastoreOut:
        return cls(name=ds.name, type=ds.type, root=ds.root or "(workspace artifact store)",
                   description=ds.description, tags=ds.tags, is_default=ds.is_default,
                   creation_time=ds.creation_time)


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


class EnvironmentIn(Body):
    name: str = ""
    version: str = ""
    image: str | None = None
    conda_file: dict[str, Any] | None = None
    pip_requirements: list[str] | None = None
    build: dict[str, Any] | None = None
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    os_type: str = "linux"
    inference_config: dict[str, Any] | None = None

    def entity(self) -> Environment:
        return Environment(name=self.name, version=str(self.version or ""), image=self.image,
                           conda_file=self.conda_file, pip_requirements=self.pip_requirements,
                           build=self.build, description=self.description, tags=self.tags,
                           os_type=self.os_type, inference_config=self.inference_config)

    @classmethod
    def of_entity(cls, e: Environment) -> EnvironmentIn:
        return cls(name=e.name, version=e.version, image=e.image, conda_file=e.conda_file,
                   pip_requirements=e.pip_requirements, build=e.build,
                   description=e.description, tags=e.tags, os_type=e.os_type,
                   inference_config=e.inference_config)


class EnvironmentOut(EnvironmentIn):
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    creation_time: float
    id: str

    @classmethod
    def of(cls, e: Environment) -> EnvironmentOut:
        base = EnvironmentIn.of_entity(e).model_dump()
        return cls(**base, creation_time=e.creation_time, id=f"azureml:{e.name}:{e.version}")


class UploadOut(BaseModel):
    uri: str
    exists: bool = True
