"""Request/response types of online endpoints and deployments."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ember.entities.endpoints import (
    CodeConfiguration,
    DataCollector,
    OnlineDeployment,
    OnlineEndpoint,
    ProbeSettings,
    RequestSettings,
)
from ember.entities.environments import Environment


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    auth_mode: str = "key"
    traffic: dict[str, int] = Field(default_factory=dict)
    mirror_traffic: dict[str, int] = Field(default_factory=dict)

    def entity(self) -> OnlineEndpoint:
        return OnlineEndpoint(name=self.name, description=self.description, tags=self.tags,
                              auth_mode=self.auth_mode, traffic=self.traffic,
                              mirror_traffic=self.mirror_traffic)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    tags: dict[str, str] | None = None
    traffic: dict[str, int] | None = None
    mirror_traffic: dict[str, int] | None = None


class EndpointOut(BaseModel):
    name: str
    description: str
    tags: dict[str, str]
    auth_mode: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    provisioning_state: str
    scoring_uri: str
    creation_time: float

    @classmethod
    def of(cls, ep: OnlineEndpoint) -> EndpointOut:
        return cls(**ep.to_dict())


class KeysOut(BaseModel):
    primary_key: str
    secondary_key: str


class RegenerateIn(BaseModel):
    key_type: str = "primary"


class _Code(BaseModel):
    code: str
    scoring_script: str


class _Requests(BaseModel):
    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    max_queue_wait_ms: int = 500


class _Probe(BaseModel):
    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    success_threshold: int = 1
    failure_threshold: int = 30


class _Collector(BaseModel):
    sampling_rate: float = 1.0
    collections: dict[str, dict[str, Any]] = Field(default_factory=dict)


class DeploymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = ""
    code_configuration: _Code | None = None
    environment: str | dict[str, Any] | None = None
    environment_variables: dict[str, str] = Field(default_factory=dict)
    instance_type: str = ""
    instance_count: int = 1
    request_settings: _Requests = Field(default_factory=_Requests)
    liveness_probe: _Probe = Field(default_factory=_Probe)
    readiness_probe: _Probe = Field(default_factory=_Probe)
    data_collector: _Collector | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    def entity(self, endpoint: str, name: str) -> OnlineDeployment:
        env = self.environment
        return OnlineDeployment(
            name=name, endpoint_name=endpoint, model=self.model,
            code_configuration=CodeConfiguration(**self.code_configuration.model_dump())
            if self.code_configuration else None,
            environment=Environment(**env) if isinstance(env, dict) else env,
            environment_variables=self.environment_variables,
            instance_type=self.instance_type, instance_count=self.instance_count,
            request_settings=RequestSettings(**self.request_settings.model_dump()),
            liveness_probe=ProbeSettings(**self.liveness_probe.model_dump()),
            readiness_probe=ProbeSettings(**self.readiness_probe.model_dump()),
            data_collector=DataCollector(**self.data_collector.model_dump())
            if self.data_collector else None,
            description=self.description, tags=self.tags)


class DeploymentOut(BaseModel):
    name: str
    endpoint_name: str
    model: str
    code_configuration: dict[str, Any] | None
    environment: str | dict[str, Any] | None
    environment_variables: dict[str, str]
    instance_type: str
    instance_count: int
    request_settings: dict[str, Any]
    liveness_probe: dict[str, Any]
    readiness_probe: dict[str, Any]
    data_collector: dict[str, Any] | None
    description: str
    tags: dict[str, str]
    provisioning_state: str
    error: str
    generation: int
    creation_time: float
    instances: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def of(cls, d: OnlineDeployment,
           instances: list[dict[str, Any]] | None = None) -> DeploymentOut:
        return cls(**d.to_dict(), instances=instances or [])
