"""Batch endpoints and their model deployments (Azure ML batch endpoint shape).

Invoking an endpoint starts a batch scoring job: a command job that runs the batch driver
(``serving/batch_driver.py``) over the input files, ``mini_batch_size`` files per ``run()``
call, and writes ``predictions.csv`` as its ``score`` output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.codec import from_plain
from ember.entities.online_endpoints import CodeConfiguration
from ember.entities.environments import Environment
from ember.entities.models import Model

OUTPUT_ACTIONS = ("append_row", "summary_only")


@dataclass
class RetrySettings:
    max_retries: int = 3
    timeout: int = 30


@dataclass
class BatchSettings:
    max_concurrency_per_instance: int = 1
    mini_batch_size: int = 10
    error_threshold: int = -1
    logging_level: str = "info"
    retry_settings: RetrySettings = field(default_factory=RetrySettings)
    output_action: str = "append_row"
    output_file_name: str = "predictions.csv"
    environment_variables: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchEndpoint:
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    default_deployment: str = ""
    scoring_uri: str = ""
    creation_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchDeployment:
    name: str
    endpoint_name: str
    model: str | Model = ""
    code_configuration: CodeConfiguration | None = None
    environment: str | Environment | None = None
    compute: str = ""
    instance_count: int = 1
    settings: BatchSettings = field(default_factory=BatchSettings)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchDeployment:
        return from_plain(cls, d)


# azure-ai-ml's name for a model batch deployment.
ModelBatchDeployment = BatchDeployment
