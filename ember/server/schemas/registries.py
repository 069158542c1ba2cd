from __future__ import annotations

from pydantic import Field

from ember.entities.registries import Registry
from ember.server.schemas.base import Body, Description, Tags


class RegistryIn(Body):
    name: str
    description: Description = ""
    tags: Tags = Field(default_factory=dict)

    def entity(self) -> Registry:
        return Registry(name=self.name, description=self.description, tags=dict(self.tags))


class RegistryOut(RegistryIn):
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    creation_time: float
    builtin: bool = False   # azureml: Ember's read-only registry (catalog, curated, built-ins)

    @classmethod
    def of(cls, r: Registry, *, builtin: bool = False) -> RegistryOut:
        return cls(name=r.name, description=r.description, tags=r.tags,
                   creation_time=r.creation_time, builtin=builtin)
