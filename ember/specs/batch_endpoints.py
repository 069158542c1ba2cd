"""Batch endpoint and deployment YAML (reference 1.9) → entities.

Model deployments only: ``type: pipeline`` is refused. A deployment without ``type`` is the
legacy form, with its settings keys at the top level. ``compute`` is accepted and ignored
(batch jobs run on local compute); ``auth_mode`` may only be ``aad_token`` (the one value Azure
has) and is ignored: the workspace's own access check applies.
"""

from __future__ import annotations

from pathlib import Path

from ember.entities.batch_endpoints import (
    OUTPUT_ACTIONS,
    BatchDeployment,
    BatchEndpoint,
    BatchSettings,
    RetrySettings,
)
from ember.specs._schema import Section, asset_name, load_spec
from ember.specs.jobs import _environment
from ember.specs.online_endpoints import code_configuration, deployment_model

ENDPOINT_KEYS = ("$schema", "name", "description", "tags", "auth_mode", "defaults")
SETTINGS_KEYS = ("max_concurrency_per_instance", "mini_batch_size", "error_threshold",
                 "logging_level", "retry_settings", "output_action", "output_file_name",
                 "environment_variables")
DEPLOYMENT_KEYS = ("$schema", "name", "endpoint_name", "type", "description", "tags", "model",
                   "code_configuration", "environment", "compute", "resources", "settings",
                   "properties")


def load_batch_endpoint_spec(path: Path, overrides: list[str] | None = None) -> BatchEndpoint:
    data, ctx = load_spec(path, overrides)
    sec = Section(ctx, data)
    sec.check_keys(ENDPOINT_KEYS)
    sec.get_choice("auth_mode", ("aad_token",), "aad_token")
    defaults = sec.section("defaults")
    default = ""
    if defaults is not None:
        defaults.check_keys(("deployment_name",))
        default = defaults.get_str("deployment_name") or ""
    return BatchEndpoint(name=asset_name(sec, required=True),
                         description=sec.get_str("description", nonempty=False) or "",
                         tags=sec.get_str_map("tags"), default_deployment=default)


def load_batch_deployment_spec(path: Path,
                               overrides: list[str] | None = None) -> BatchDeployment:
    data, ctx = load_spec(path, overrides)
    sec = Section(ctx, data)
    kind = sec.get("type")
    legacy = kind is None
    if kind == "pipeline":
        sec.fail("type", "pipeline batch deployments are not supported yet; use type: model")
    sec.check_keys(DEPLOYMENT_KEYS + (SETTINGS_KEYS if legacy else ()))
    if not legacy:
        sec.get_choice("type", ("model",))
    model = deployment_model(sec)
    code = code_configuration(sec)
    resources = sec.section("resources")
    count = 1
    if resources is not None:
        resources.check_keys(("instance_count", "instance_type", "properties"))
        count = resources.get_int("instance_count", minimum=1) or 1
    settings_sec = sec if legacy else sec.section("settings")
    return BatchDeployment(
        name=asset_name(sec, required=True),
        endpoint_name=sec.get_str("endpoint_name", required=True) or "",
        model=model,
        code_configuration=code,
        environment=_environment(sec),
        compute=sec.get_str("compute") or "",
        instance_count=count,
        settings=_settings(settings_sec, legacy),
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"))


def _settings(sec: Section | None, legacy: bool) -> BatchSettings:
    if sec is None:
        return BatchSettings()
    if not legacy:
        sec.check_keys(SETTINGS_KEYS)
    retry = RetrySettings()
    rsec = sec.section("retry_settings")
    if rsec is not None:
        rsec.check_keys(("max_retries", "timeout"))
        retry = RetrySettings(
            max_retries=_int(rsec, "max_retries", 0, 3),
            timeout=_int(rsec, "timeout", 1, 30))
    threshold = sec.get_int("error_threshold", minimum=-1)
    return BatchSettings(
        max_concurrency_per_instance=_int(sec, "max_concurrency_per_instance", 1, 1),
        mini_batch_size=_int(sec, "mini_batch_size", 1, 10),
        error_threshold=-1 if threshold is None else threshold,
        logging_level=sec.get_choice("logging_level", ("info", "warning", "debug"), "info")
        or "info",
        retry_settings=retry,
        output_action=sec.get_choice("output_action", OUTPUT_ACTIONS, "append_row")
        or "append_row",
        output_file_name=sec.get_str("output_file_name") or "predictions.csv",
        environment_variables=sec.get_str_map("environment_variables"))


def _int(sec: Section, key: str, minimum: int, default: int) -> int:
    value = sec.get_int(key, minimum=minimum)
    return default if value is None else value
