"""Request/response types of batch endpoints and deployments."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ember.entities.batch_endpoints import (
    BatchDeployment,
    BatchEndpoint,
    BatchSettings,
    RetrySettings,
)
from ember.entities.online_endpoints import CodeConfiguration
from ember.server.schemas.environments import EnvironmentIn
from ember.server.schemas.base import Body, Description, EnvironmentVariables, Tags


class BatchEndpointIn(Body):
    name: str
    description: Description = ""
    tags: Tags = Field(default_factory=dict)

    def entity(self) -> BatchEndpoint:
        return BatchEndpoint(name=self.name, description=self.description, tags=self.tags)


class BatchEndpointUpdate(Body):
    description: Description | None = None
    tags: Tags | None = None
    default_deployment: str | None = None


class BatchEndpointOut(BaseModel):
    name: str
    description: str
    tags: dict[str, str]
    default_deployment: str
    scoring_uri: str
    creation_time: float

    @classmethod
    def of(cls, ep: BatchEndpoint) -> BatchEndpointOut:
        return cls(**ep.to_dict())


class _Retry(Body):
    max_retries: int = 3
    timeout: int = 30


class _Settings(Body):
    max_concurrency_per_instance: int = 1
    mini_batch_size: int = 10
    error_threshold: int = -1
    logging_level: str = "info"
    retry_settings: _Retry = Field(default_factory=_Retry)
    output_action: str = "append_row"
    output_file_name: str = "predictions.csv"
    environment_variables: EnvironmentVariables = Field(default_factory=dict)


class _Code(Body):
    code: str
    scoring_script: str


class BatchDeploymentIn(Body):
    model: str = ""
    code_configuration: _Code | None = None
    environment: str | EnvironmentIn | None = None
    compute: str = ""
    instance_count: int = 1
    settings: _Settings = Field(default_factory=_Settings)
    description: Description = ""
    tags: Tags = Field(default_factory=dict)

    def entity(self, endpoint: str, name: str) -> BatchDeployment:
        s = self.settings.model_dump()
        s["retry_settings"] = RetrySettings(**s["retry_settings"])
        env = self.environment
        return BatchDeployment(
            name=name, endpoint_name=endpoint, model=self.model,
            code_configuration=CodeConfiguration(**self.code_configuration.model_dump())
            if self.code_configuration else None,
            environment=env.entity() if isinstance(env, EnvironmentIn) else env,
            compute=self.compute, instance_count=self.instance_count,
            settings=BatchSettings(**s), description=self.description, tags=self.tags)


class BatchDeploymentOut(BaseModel):
    name: str
    endpoint_name: str
    model: str
    code_configuration: dict[str, Any] | None
    environment: str | dict[str, Any] | None
    compute: str
    instance_count: int
    settings: dict[str, Any]
    description: str
    tags: dict[str, str]
    creation_time: float

    @classmethod
    def of(cls, d: BatchDeployment) -> BatchDeploymentOut:
        return cls(**d.to_dict())


class InvokeIn(Body):
    input: str
    input_type: str = "uri_folder"
    deployment_name: str | None = None
    mini_batch_size: int | None = None
    output_path: str | None = None
    experiment_name: str | None = None
