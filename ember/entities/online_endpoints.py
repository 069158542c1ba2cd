"""Online endpoints and their deployments (Azure ML managed online endpoint shape).

An endpoint owns the keys and the traffic split; each deployment runs ``instance_count``
worker processes of one model (an MLflow model with no code, or a model plus an
``init()``/``run()`` scoring script).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.codec import from_plain
from ember.entities.environments import Environment
from ember.entities.models import Model

AUTH_MODES = ("key", "aml_token", "aad_token")


class ProvisioningState:
    CREATING = "Creating"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"


@dataclass
class RequestSettings:
    """A field left None was not given: the service fills it with the default of the
    deployment's kind (:data:`REQUEST_DEFAULTS`, or :data:`LLM_REQUEST_DEFAULTS` for a language
    model, which batches concurrent requests and takes longer per request) before it records
    the deployment, so a stored deployment has every field set."""

    request_timeout_ms: int | None = None
    max_concurrent_requests_per_instance: int | None = None
    max_queue_wait_ms: int | None = None

    def filled(self, defaults: RequestSettings) -> RequestSettings:
        """These settings with each field not given taken from ``defaults``."""
        return RequestSettings(**{
            name: getattr(defaults, name) if getattr(self, name) is None else getattr(self, name)
            for name in self.__dataclass_fields__})

    @property
    def timeout_ms(self) -> int:
        return _given(self.request_timeout_ms, REQUEST_DEFAULTS.request_timeout_ms)

    @property
    def concurrency(self) -> int:
        return _given(self.max_concurrent_requests_per_instance,
                      REQUEST_DEFAULTS.max_concurrent_requests_per_instance)

    @property
    def queue_wait_ms(self) -> int:
        return _given(self.max_queue_wait_ms, REQUEST_DEFAULTS.max_queue_wait_ms)


def _given(value: int | None, default: int | None) -> int:
    return int(value if value is not None else default or 0)


REQUEST_DEFAULTS = RequestSettings(request_timeout_ms=5000,
                                   max_concurrent_requests_per_instance=1,
                                   max_queue_wait_ms=500)
# A language model decodes concurrent requests together (so it needs them concurrently), and
# one generation takes seconds to a minute on a CPU.
LLM_REQUEST_DEFAULTS = RequestSettings(request_timeout_ms=90_000,
                                       max_concurrent_requests_per_instance=32,
                                       max_queue_wait_ms=500)


@dataclass
class ProbeSettings:
    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    success_threshold: int = 1
    failure_threshold: int = 30


@dataclass
class DataCollector:
    sampling_rate: float = 1.0
    # collection name ("request", "response") → {"enabled": bool, "data": {"name", ...}}
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def enabled(self, name: str) -> bool:
        spec = self.collections.get(name) or {}
        return str(spec.get("enabled", "false")).lower() == "true"


@dataclass
class CodeConfiguration:
    code: str                     # uploaded snapshot ("codes/<hash>") or a local folder
    scoring_script: str


@dataclass
class OnlineEndpoint:
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    auth_mode: str = "key"
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    provisioning_state: str = ProvisioningState.SUCCEEDED
    scoring_uri: str = ""
    creation_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OnlineDeployment:
    name: str
    endpoint_name: str
    # azureml:name:version (resolved at create); the SDK also takes an unregistered Model,
    # which it registers first.
    model: str | Model = ""
    code_configuration: CodeConfiguration | None = None
    environment: str | Environment | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    instance_type: str = ""
    instance_count: int = 1
    request_settings: RequestSettings = field(default_factory=RequestSettings)
    liveness_probe: ProbeSettings = field(default_factory=ProbeSettings)
    readiness_probe: ProbeSettings = field(default_factory=ProbeSettings)
    data_collector: DataCollector | None = None
    # Ember's key (Azure sizes memory by instance_type): a worker whose resident memory, with
    # its child processes, passes this many MiB is restarted, and the restart logged.
    worker_memory_limit_mb: int | None = None
    # Ember's key, for a language model without a scoring script: the runtime that serves it
    # ("llama.cpp" | "transformers"); None = the model's default (its card's first runtime).
    runtime: str | None = None
    # Ember's key: "azureml:<name>" of a Ray compute serves the deployment on Ray Serve
    # (serving/ray_serve.py); "" (or "local") = worker processes on the server's machine.
    compute: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    provisioning_state: str = ProvisioningState.CREATING
    error: str = ""
    generation: int = 0              # bumped by every update that replaces the workers
    creation_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OnlineDeployment:
        return from_plain(cls, d)


@dataclass
class EndpointKeys:
    primary_key: str
    secondary_key: str


# azure-ai-ml's names for the same entities (``from ember import ManagedOnlineEndpoint``).
ManagedOnlineEndpoint = OnlineEndpoint
ManagedOnlineDeployment = OnlineDeployment
