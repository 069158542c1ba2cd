"""Request/response types of serverless endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictInt

from ember.entities.serverless_endpoints import (
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_TOKENS_PER_MINUTE,
    RateLimits,
    ServerlessEndpoint,
)
from ember.server.schemas.base import Body, Description, Properties, Tags


class RateLimitsIn(Body):
    tokens_per_minute: StrictInt = DEFAULT_TOKENS_PER_MINUTE   # range checked by the service
    requests_per_minute: StrictInt = DEFAULT_REQUESTS_PER_MINUTE

    def entity(self) -> RateLimits:
        return RateLimits(**self.model_dump())


class ServerlessEndpointIn(Body):
    """The whole endpoint (``PUT``): creates it, or updates what may change."""

    name: str | None = None          # the path's; when given here it must be the same
    model_id: str
    auth_mode: str = "key"
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    rate_limits: RateLimitsIn = Field(default_factory=RateLimitsIn)

    def entity(self, name: str) -> ServerlessEndpoint:
        return ServerlessEndpoint(name=name, model_id=self.model_id, auth_mode=self.auth_mode,
                                  description=self.description, tags=self.tags,
                                  properties=self.properties,
                                  rate_limits=self.rate_limits.entity())


class ServerlessEndpointUpdate(Body):
    description: Description | None = None
    tags: Tags | None = None
    properties: Properties | None = None
    rate_limits: RateLimitsIn | None = None


class ServerlessEndpointOut(BaseModel):
    name: str
    model_id: str
    auth_mode: str
    description: str
    tags: dict[str, str]
    properties: dict[str, str]
    rate_limits: dict[str, int]
    model: str
    provisioning_state: str
    error: str
    scoring_uri: str
    openai_base_url: str
    usage: dict[str, dict[str, int]]
    creation_time: float

    @classmethod
    def of(cls, ep: ServerlessEndpoint) -> ServerlessEndpointOut:
        return cls(**ep.to_dict())
