"""Request/response types of batch endpoints and deployments."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ember.entities.batch_endpoints import (
    BatchDeployment,
    BatchEndpoint,
    BatchSettings,
    RetrySettings,
)
from ember.entities.endpoints import CodeConfiguration
from ember.entities.environments import Environment


class BatchEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    def entity(self) -> BatchEndpoint:
        return BatchEndpoint(name=self.name, description=self.description, tags=self.tags)


class BatchEndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    tags: dict[str, str] | None = None
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


class _Retry(BaseModel):
    max_retries: int = 3
    timeout: int = 30


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_concurrency_per_instance: int = 1
    mini_batch_size: int = 10
    error_threshold: int = -1
    logging_level: str = "info"
    retry_settings: _Retry = Field(default_factory=_Retry)
    output_action: str = "append_row"
    output_file_name: str = "predictions.csv"
    environment_variables: dict[str, str] = Field(default_factory=dict)


class _Code(BaseModel):
    code: str
    scoring_script: str


class BatchDeploymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = ""
    code_configuration: _Code | None = None
    environment: str | dict[str, Any] | None = None
    compute: str = ""
    instance_count: int = 1
    settings: _Settings = Field(default_factory=_Settings)
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    def entity(self, endpoint: str, name: str) -> BatchDeployment:
        s = self.settings.model_dump()
        s["retry_settings"] = RetrySettings(**s["retry_settings"])
        env = self.environment
        return BatchDeployment(
            name=name, endpoint_name=endpoint, model=self.model,
            code_configuration=CodeConfiguration(**self.code_configuration.model_dump())
            if self.code_configuration else None,
            environment=Environment(**env) if isinstance(env, dict) else env,
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


class InvokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str
    input_type: str = "uri_folder"
    deployment_name: str | None = None
    mini_batch_size: int | None = None
    output_path: str | None = None
    experiment_name: str | None = None
