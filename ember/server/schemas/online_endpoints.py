"""Request/response types of online endpoints and deployments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, StrictInt

from ember.entities.online_endpoints import (
    CodeConfiguration,
    DataCollector,
    OnlineDeployment,
    OnlineEndpoint,
    ProbeSettings,
    RequestSettings,
)
from ember.server.schemas.environments import EnvironmentIn
from ember.server.schemas.base import Body, Description, EnvironmentVariables, Tags


class EndpointIn(Body):
    name: str
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    auth_mode: str = "key"
    traffic: dict[str, int] = Field(default_factory=dict)
    mirror_traffic: dict[str, int] = Field(default_factory=dict)

    def entity(self) -> OnlineEndpoint:
        return OnlineEndpoint(name=self.name, description=self.description, tags=self.tags,
                              auth_mode=self.auth_mode, traffic=self.traffic,
                              mirror_traffic=self.mirror_traffic)


class EndpointUpdate(Body):
    description: Description | None = None
    tags: Tags | None = None
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


class RegenerateIn(Body):
    key_type: str = "primary"


class _Code(Body):
    code: str
    scoring_script: str


class _Requests(Body):
    # None: not given (the service fills the deployment kind's default)
    request_timeout_ms: int | None = None
    max_concurrent_requests_per_instance: int | None = None
    max_queue_wait_ms: int | None = None


class _Probe(Body):
    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    success_threshold: int = 1
    failure_threshold: int = 30


class _Collector(Body):
    sampling_rate: float = 1.0
    collections: dict[str, dict[str, Any]] = Field(default_factory=dict)


class DeploymentIn(Body):
    model: str = ""
    code_configuration: _Code | None = None
    environment: str | EnvironmentIn | None = None
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    instance_type: str = ""
    instance_count: int = 1
    request_settings: _Requests = Field(default_factory=_Requests)
    liveness_probe: _Probe = Field(default_factory=_Probe)
    readiness_probe: _Probe = Field(default_factory=_Probe)
    data_collector: _Collector | None = None
    worker_memory_limit_mb: StrictInt | None = None   # range checked by the service
    runtime: str | None = None
    compute: str = ""
    description: Description = ""
    tags: Tags = Field(default_factory=dict)

    def entity(self, endpoint: str, name: str) -> OnlineDeployment:
        env = self.environment
        return OnlineDeployment(
            name=name, endpoint_name=endpoint, model=self.model,
            code_configuration=CodeConfiguration(**self.code_configuration.model_dump())
            if self.code_configuration else None,
            environment=env.entity() if isinstance(env, EnvironmentIn) else env,
            environment_variables=self.environment_variables,
            instance_type=self.instance_type, instance_count=self.instance_count,
            request_settings=RequestSettings(**self.request_settings.model_dump()),
            liveness_probe=ProbeSettings(**self.liveness_probe.model_dump()),
            readiness_probe=ProbeSettings(**self.readiness_probe.model_dump()),
            data_collector=DataCollector(**self.data_collector.model_dump())
            if self.data_collector else None,
            worker_memory_limit_mb=self.worker_memory_limit_mb, runtime=self.runtime,
            compute=self.compute, description=self.description, tags=self.tags)


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
    worker_memory_limit_mb: int | None = None
    runtime: str | None = None
    compute: str = ""
    description: str
    tags: dict[str, str]
    provisioning_state: str
    error: str
    generation: int
    creation_time: float
    instances: list[dict[str, Any]] = Field(default_factory=list)
    # what the running workers serve: "language_model" (an OpenAI API under /v1), "flow",
    # "model"; "" when none runs
    serves: str = ""

    @classmethod
    def of(cls, d: OnlineDeployment, instances: list[dict[str, Any]] | None = None, *,
           public: Callable[[str], str] = str, serves: str = "") -> DeploymentOut:
        """``public`` summarises ``error`` for the caller (a start-up failure carries the
        worker's log tail; the whole traceback stays in the deployment's logs)."""
        data = d.to_dict()
        data["error"] = public(data["error"])
        return cls(**data, instances=instances or [], serves=serves)
