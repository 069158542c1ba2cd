"""Request/response types of connections. Responses carry secrets masked (``******``); only
``listsecrets`` answers them in clear, as the plain form (a JSON object, no schema type: its
keys depend on the connection's type)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ember.entities.connections import Connection
from ember.server.schemas.base import Body, EnvironmentVariables, Tags


class ConnectionIn(Body):
    """The whole connection (``PUT``): creates it or replaces it; a secret left out or sent
    as ``******`` keeps its stored value."""

    name: str | None = None          # the path's; when given here it must be the same
    type: str
    configs: EnvironmentVariables = Field(default_factory=dict)   # names → strings, limited
    secrets: EnvironmentVariables = Field(default_factory=dict)
    tags: Tags = Field(default_factory=dict)

    def entity(self, name: str) -> Connection:
        return Connection(name=name, type=self.type, configs=dict(self.configs),
                          secrets=dict(self.secrets), tags=dict(self.tags))


class ConnectionOut(BaseModel):
    name: str
    type: str
    configs: dict[str, str]
    secrets: dict[str, str]          # every value "******"
    tags: dict[str, str]
    creation_time: float
    last_modified_time: float

    @classmethod
    def of(cls, conn: Connection) -> ConnectionOut:
        return cls(**conn.masked().to_dict())
