from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from ember.entities.codec import from_plain
from ember.entities.environments import Environment
from ember.entities.finetuning import FineTuningJob
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.entities.pipelines import PipelineJob, pipeline_from_plain
from ember.entities.sweeps import SweepJob, sweep_from_dict
from ember.errors import InvalidInputError
from ember.specs.finetuning import check_finetuning
from ember.specs.sweeps import check_sweep
from ember.entities import limits
from ember.server.schemas.environments import EnvironmentIn
from ember.server.schemas.base import (
    Body,
    Command,
    Description,
    DisplayName,
    EnvironmentVariables,
    Properties,
    Tags,
)

Inputs = Annotated[dict[str, "InputIn"], Field(max_length=limits.MAX_JOB_INPUTS)]
Outputs = Annotated[dict[str, "OutputIn"], Field(max_length=limits.MAX_JOB_OUTPUTS)]


class InputIn(Body):
    type: str = "string"
    value: Any = None
    path: str | None = None
    mode: str | None = None
    optional: bool = False


class OutputIn(Body):
    type: str = "uri_folder"
    path: str | None = None
    mode: str = "rw_mount"


class JobIn(Body):
    type: str = "command"
    name: str = ""
    display_name: DisplayName = ""
    experiment_name: str = ""
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    command: Command
    code: str | None = None
    environment: str | EnvironmentIn | None = None
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    compute: str = "local"
    inputs: Inputs = Field(default_factory=dict)
    outputs: Outputs = Field(default_factory=dict)
    timeout: float | None = None
    is_deterministic: bool = True
    distribution: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None

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
            timeout=self.timeout, is_deterministic=self.is_deterministic,
            distribution=self.distribution, resources=self.resources)

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
            timeout=job.timeout, is_deterministic=job.is_deterministic,
            distribution=job.distribution, resources=job.resources)


class StatusChangeOut(BaseModel):
    status: str
    time: float
    reason: str = ""


class CreationContextOut(BaseModel):
    """Azure's ``creation_context``: who submitted the job (None: not recorded, or a server
    with auth off) and when (epoch seconds)."""

    created_by: str | None = None
    created_at: float


class JobOut(JobIn):
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, InputIn] = Field(default_factory=dict)
    outputs: dict[str, OutputIn] = Field(default_factory=dict)
    status: str
    status_history: list[StatusChangeOut]
    error: str | None = None
    creation_time: float
    start_time: float | None = None
    end_time: float | None = None
    experiment_id: str | None = None
    parent_job_name: str | None = None
    mlflow_run_id: str
    step_name: str | None = None
    component: str | None = None
    reused_from: str | None = None
    reuse_key: str | None = None
    definition: dict[str, Any] | None = None
    command: str = ""
    is_archived: bool = False
    creation_context: CreationContextOut | None = None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(**cls.of_entity(job), status=job.status,
                   status_history=[StatusChangeOut(status=s.status, time=s.time, reason=s.reason)
                                   for s in job.status_history],
                   error=job.error, creation_time=job.creation_time, start_time=job.start_time,
                   end_time=job.end_time, experiment_id=job.experiment_id,
                   parent_job_name=job.parent_job_name, mlflow_run_id=job.name,
                   step_name=job.step_name, component=job.component,
                   reused_from=job.reused_from, reuse_key=job.reuse_key,
                   definition=job.definition, is_archived=job.is_archived,
                   creation_context=CreationContextOut(created_by=job.submitter,
                                                       created_at=job.creation_time))


class JobUpdateIn(Body):
    """``PATCH /jobs/<name>``: the fields given change, the others stay; ``tags`` replaces
    the job's tags (read, change, send back to change one)."""

    display_name: DisplayName | None = None
    description: Description | None = None
    tags: Tags | None = None


# What a job's PATCH refuses, and why (anything else unknown is refused by name as well).
_READ_ONLY = {
    "properties": "properties are read-only: they record what ran",
    "is_archived": "archive or restore a job with POST .../jobs/<name>/archive or /restore",
    "status": "a job's status changes by running, or by POST .../jobs/<name>/cancel",
}


def parse_job_update(body: dict[str, Any]) -> JobUpdateIn:
    """The body of ``PATCH /jobs/<name>``; a field that cannot change is a 400 naming it."""
    allowed = tuple(JobUpdateIn.model_fields)
    for key in body:
        if key not in allowed:
            why = _READ_ONLY.get(key, "it is fixed once the job is submitted")
            raise InvalidInputError(f"{key!r} cannot be updated on a job ({why}); only "
                                    f"{', '.join(allowed)} can")
    try:
        return JobUpdateIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInputError(f"{where}: {first.get('msg', 'invalid')}") from None


class RunnerStatusIn(Body):
    status: str
    error: str | None = None
    exit_code: int | None = None
    pid: int | None = None


class FileOut(BaseModel):
    path: str
    size: int


class PipelineIn(Body):
    """A pipeline job: the top level is typed here; ``jobs`` and ``settings`` are the plain
    form of :class:`~ember.entities.pipelines.PipelineJob` (checked when converted)."""

    type: str = "pipeline"
    name: str = ""
    display_name: DisplayName = ""
    experiment_name: str = ""
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    compute: str | None = None
    inputs: Inputs = Field(default_factory=dict)
    outputs: Outputs = Field(default_factory=dict)
    jobs: dict[str, dict[str, Any]]
    settings: dict[str, Any] = Field(default_factory=dict)

    def entity(self) -> PipelineJob:
        try:
            return pipeline_from_plain(self.model_dump())
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InvalidInputError(f"the pipeline body is malformed: {exc}") from None


def parse_sweep_body(body: dict[str, Any]) -> SweepJob:
    """A sweep job in the plain form of :func:`~ember.entities.sweeps.sweep_to_dict`,
    checked with the same rules as the YAML loader."""
    try:
        sweep = sweep_from_dict(body)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidInputError(f"the sweep body is malformed: {exc}") from None
    check_sweep(sweep, f"sweep job {sweep.name or '(new)'}")
    # The limits the typed bodies (JobIn, PipelineIn) carry in their field types.
    limits.check_length("display_name", sweep.display_name, limits.MAX_DISPLAY_NAME_LENGTH)
    limits.check_length("description", sweep.description, limits.MAX_DESCRIPTION_LENGTH)
    limits.check_mapping("tags", sweep.tags, limits.MAX_TAGS)
    limits.check_mapping("properties", sweep.properties, limits.MAX_PROPERTIES)
    limits.check_length("trial.command", sweep.trial_command, limits.MAX_COMMAND_LENGTH)
    return sweep


def parse_finetuning_body(body: dict[str, Any]) -> FineTuningJob:
    """A fine-tuning job in the plain form of its entity (``to_plain``), checked with the
    same rules as the YAML loader. A reference or path given as a plain string (``"model":
    "azureml:m:1"``) is taken as the YAML takes it."""
    body = dict(body)
    for key, kind in (("model", "mlflow_model"), ("training_data", "uri_file"),
                      ("validation_data", "uri_file")):
        if isinstance(body.get(key), str):
            body[key] = {"type": kind, "path": body[key]}
    for key in ("task", "model", "training_data"):
        if not body.get(key):
            raise InvalidInputError(f"{key}: is required")
    try:
        job = from_plain(FineTuningJob, body)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidInputError(f"the fine-tuning job body is malformed: {exc}") from None
    check_finetuning(job, f"fine-tuning job {job.name or '(new)'}")
    limits.check_length("display_name", job.display_name, limits.MAX_DISPLAY_NAME_LENGTH)
    limits.check_length("description", job.description, limits.MAX_DESCRIPTION_LENGTH)
    limits.check_mapping("tags", job.tags, limits.MAX_TAGS)
    limits.check_mapping("properties", job.properties, limits.MAX_PROPERTIES)
    limits.check_mapping("hyperparameters", job.hyperparameters, limits.MAX_JOB_INPUTS)
    return job


def parse_job_body(body: dict[str, Any]) -> Job | PipelineJob | SweepJob | FineTuningJob:
    """The body of ``POST /jobs``: a command job, or a pipeline / sweep / finetuning job when
    ``type`` says so."""
    if body.get("type") == "sweep":
        return parse_sweep_body(body)
    if body.get("type") == "finetuning":
        return parse_finetuning_body(body)
    model: type[BaseModel] = PipelineIn if body.get("type") == "pipeline" else JobIn
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInputError(f"{where}: {first.get('msg', 'invalid')}") from None
    assert isinstance(parsed, (JobIn, PipelineIn))
    return parsed.entity()
