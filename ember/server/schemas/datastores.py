from __future__ import annotations

from pydantic import BaseModel, Field

from ember.entities.datastores import Datastore
from ember.server.schemas.base import Body, Description, Tags


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
