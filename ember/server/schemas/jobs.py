from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.server.schemas.assets import EnvironmentIn


class InputIn(BaseModel):
    type: str = "string"
    value: Any = None
    path: str | None = None
    mode: str | None = None
    optional: bool = False


class OutputIn(BaseModel):
    type: str = "uri_folder"
    path: str | None = None
    mode: str = "rw_mount"


class JobIn(BaseModel):
    type: str = "command"
    name: str = ""
    display_name: str = ""
    experiment_name: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    command: str
    code: str | None = None
    environment: str | EnvironmentIn | None = None
    environment_variables: dict[str, str] = Field(default_factory=dict)
    compute: str = "local"
    inputs: dict[str, InputIn] = Field(default_factory=dict)
    outputs: dict[str, OutputIn] = Field(default_factory=dict)
    timeout: float | None = None

    def entity(self) -> Job:
        env: str | Environment | None
        env = self.environment.entity() if isinstance(self.environment, EnvironmentIn) \
            else self.environment
        return Job(
            type=self.type, name=self.name, display_name=self.display_name,
            experiment_name=self.experiment_name, description=self.description,
            tags=self.tags, properties=self.properties, command=self.command, code=self.code,
            environment=env, environment_variables=self.environment_variables,
            compute=self.compute,
            inputs={k: JobInput(**v.model_dump()) for k, v in self.inputs.items()},
            outputs={k: JobOutput(**v.model_dump()) for k, v in self.outputs.items()},
            timeout=self.timeout)

    @classmethod
    def of_entity(cls, job: Job) -> dict[str, Any]:
        env: Any = job.environment
        if isinstance(env, Environment):
            env = EnvironmentIn.of_entity(env).model_dump()
        return dict(
            type=job.type, name=job.name, display_name=job.display_name,
            experiment_name=job.experiment_name, description=job.description, tags=job.tags,
            properties=job.properties, command=job.command, code=job.code, environment=env,
            environment_variables=job.environment_variables, compute=job.compute,
            inputs={k: InputIn(**vars(v)).model_dump() for k, v in job.inputs.items()},
            outputs={k: OutputIn(**vars(v)).model_dump() for k, v in job.outputs.items()},
            timeout=job.timeout)


class StatusChangeOut(BaseModel):
    status: str
    time: float
    reason: str = ""


class JobOut(JobIn):
    status: str
    status_history: list[StatusChangeOut]
    error: str | None = None
    creation_time: float
    start_time: float | None = None
    end_time: float | None = None
    experiment_id: str | None = None
    parent_job_name: str | None = None
    mlflow_run_id: str

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(**cls.of_entity(job), status=job.status,
                   status_history=[StatusChangeOut(status=s.status, time=s.time, reason=s.reason)
                                   for s in job.status_history],
                   error=job.error, creation_time=job.creation_time, start_time=job.start_time,
                   end_time=job.end_time, experiment_id=job.experiment_id,
                   parent_job_name=job.parent_job_name, mlflow_run_id=job.name)


class RunnerStatusIn(BaseModel):
    status: str
    error: str | None = None
    exit_code: int | None = None
    pid: int | None = None


class FileOut(BaseModel):
    path: str
    size: int
