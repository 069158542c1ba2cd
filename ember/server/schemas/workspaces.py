from __future__ import annotations

from pydantic import Field

from ember.entities.workspaces import Workspace
from ember.server.schemas.base import Body, Description, DisplayName, Tags


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
