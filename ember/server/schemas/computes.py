from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from ember.entities.computes import Compute
from ember.server.schemas.base import Body, Description, Tags

_ResourceName = Annotated[str, Field(min_length=1, max_length=64)]


class ComputeIn(Body):
    """A compute to register: ``type: ray`` with its job-submission ``address`` (the built-in
    ``local`` cannot be created)."""

    name: str
    type: str
    description: Description = ""
    address: str = Field("", max_length=2048)
    max_concurrent_jobs: int | None = Field(None, ge=1)
    resources: dict[_ResourceName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, max_length=32)
    tags: Tags = Field(default_factory=dict)

    def entity(self) -> Compute:
        return Compute(name=self.name, type=self.type, description=self.description,
                       address=self.address, max_concurrent_jobs=self.max_concurrent_jobs,
                       resources=dict(self.resources), tags=self.tags)


class ComputeOut(BaseModel):
    name: str
    type: str
    description: str
    provisioning_state: str
    address: str
    max_concurrent_jobs: int | None
    resources: dict[str, float]
    capacity: int | None
    tags: dict[str, str]
    creation_time: float
    status: dict[str, Any] | None = None

    @classmethod
    def of(cls, c: Compute) -> ComputeOut:
        return cls(name=c.name, type=c.type, description=c.description,
                   provisioning_state=c.provisioning_state, address=c.address,
                   max_concurrent_jobs=c.max_concurrent_jobs, resources=c.resources,
                   capacity=c.capacity, tags=c.tags, creation_time=c.creation_time,
                   status=c.status)
