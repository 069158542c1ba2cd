"""Serverless endpoint YAML (``az ml serverless-endpoint create -f endpoint.yml``) → entity.

Azure's two required keys are ``name`` and ``model_id``; ``auth_mode`` (``key``, the default;
``aad`` needs Azure-issued tokens and is refused), ``description``, ``tags`` and
``properties`` are optional. ``location`` and ``content_safety`` are accepted and ignored
(nothing leaves this machine). ``rate_limits`` is Ember's key: ``tokens_per_minute`` and
``requests_per_minute`` (integers >= 1; Azure's fixed quotas, 200,000 and 1,000, by default).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ember.entities.serverless_endpoints import AUTH_MODES, RateLimits, ServerlessEndpoint
from ember.specs._schema import Ctx, Section, asset_name, load_spec
from ember.specs.overrides import apply_overrides

ENDPOINT_KEYS = ("$schema", "name", "model_id", "auth_mode", "description", "tags",
                 "properties", "location", "content_safety", "rate_limits")
AAD_REFUSED = ("auth_mode aad needs Azure-issued Entra tokens; Ember's serverless endpoints "
               "authenticate with keys (auth_mode: key)")


def load_serverless_endpoint_spec(path: Path,
                                  overrides: list[str] | None = None) -> ServerlessEndpoint:
    data, ctx = load_spec(path, overrides)
    return _endpoint(Section(ctx, data))


def overridden_serverless_endpoint(ep: ServerlessEndpoint,
                                   overrides: list[str]) -> ServerlessEndpoint:
    """An existing endpoint with ``--set`` overrides applied (``update --set``), checked as a
    spec file would be; errors name ``serverless endpoint <name>`` as the source."""
    data: dict[str, Any] = {"name": ep.name, "model_id": ep.model_id,
                            "auth_mode": ep.auth_mode, "description": ep.description,
                            "tags": dict(ep.tags), "properties": dict(ep.properties),
                            "rate_limits": asdict(ep.rate_limits)}
    source = f"serverless endpoint {ep.name}"
    record: dict[str, str] = {}
    apply_overrides(data, list(overrides), source, record=record)
    return _endpoint(Section(Ctx(source, Path.cwd(), record), data))


def _endpoint(sec: Section) -> ServerlessEndpoint:
    sec.check_keys(ENDPOINT_KEYS)
    auth_mode = sec.get_choice("auth_mode", AUTH_MODES, "key") or "key"
    if auth_mode != "key":
        sec.fail("auth_mode", AAD_REFUSED)
    safety = sec.section("content_safety")
    if safety is not None:
        safety.check_keys(("content_safety_status",))
    return ServerlessEndpoint(
        name=asset_name(sec, required=True),
        model_id=sec.get_str("model_id", required=True) or "",
        auth_mode=auth_mode,
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"),
        properties=sec.get_str_map("properties"),
        rate_limits=rate_limits(sec))


def rate_limits(sec: Section) -> RateLimits:
    sub = sec.section("rate_limits")
    if sub is None:
        return RateLimits()
    sub.check_keys(("tokens_per_minute", "requests_per_minute"))
    limits = RateLimits()
    tokens = sub.get_int("tokens_per_minute", minimum=1)
    requests = sub.get_int("requests_per_minute", minimum=1)
    if tokens is not None:
        limits.tokens_per_minute = tokens
    if requests is not None:
        limits.requests_per_minute = requests
    return limits
