"""Serverless endpoints (Azure's Models-as-a-Service): a language model behind keys and an
OpenAI-compatible URL, with no deployment to manage.

An endpoint serves one model (``model_id``: a catalog model without a version, which means its
latest, or a workspace model) through one language-model worker, behind the same router as
online endpoints, with Azure's per-endpoint rate limits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.codec import from_plain
from ember.entities.online_endpoints import ProvisioningState

AUTH_MODES = ("key", "aad")
# Azure: "Each deployment has a rate limit of 200,000 tokens per minute and 1,000 API requests
# per minute".
DEFAULT_TOKENS_PER_MINUTE = 200_000
DEFAULT_REQUESTS_PER_MINUTE = 1_000


@dataclass
class RateLimits:
    """Ember's ``rate_limits`` key: what the router lets through per endpoint in any 60 s
    (beyond it: 429 with ``Retry-After``)."""

    tokens_per_minute: int = DEFAULT_TOKENS_PER_MINUTE
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE


@dataclass
class ServerlessEndpoint:
    name: str
    model_id: str = ""                 # as given: azureml://registries/<reg>/models/<name>...
    auth_mode: str = "key"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # read-only
    model: str = ""                    # the model version served (resolved at create)
    provisioning_state: str = ProvisioningState.CREATING
    error: str = ""
    scoring_uri: str = ""              # <router>/endpoints/<ws>/<name>; OpenAI base: + "/v1"
    openai_base_url: str = ""
    # per key ("primary", "secondary"): requests, prompt_tokens, completion_tokens (show only)
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    creation_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServerlessEndpoint:
        return from_plain(cls, d)
