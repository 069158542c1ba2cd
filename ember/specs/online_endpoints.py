"""Online endpoint and deployment YAML (reference 1.8) → entities.

A deployment's ``code_configuration.code`` is resolved to an absolute local folder (the CLI
and SDK upload it); an inline ``model`` mapping becomes an unregistered
:class:`~ember.entities.models.Model` (registered before the deployment is sent); a string
model is a reference as written. Keys Azure accepts that have no meaning on local machines
(``identity``, ``public_network_access``, ``app_insights_enabled``, ``scale_settings``,
``egress_public_network_access``, ``instance_type``, ``kind``) are accepted and ignored.
``worker_memory_limit_mb`` is Ember's own key (an integer >= 1: MiB of resident memory per
worker, children included, past which the worker is restarted), and so is ``runtime``: for a
language model deployed without a scoring script, the runtime that serves it (``llama.cpp`` or
``transformers``; by default the first one the model's files allow), and so is ``compute``
(``azureml:<name>`` of a registered Ray compute: the deployment is served by Ray Serve on that
cluster, behind the same router; absent or ``local``: worker processes on this machine). Such a deployment also
reads ``EMBER_LLM_THREADS`` (CPU threads per worker, default 1), ``EMBER_LLM_MAX_SEQUENCES``
(requests decoded together, default 16) and ``EMBER_LLM_ADAPTER_CACHE`` (LoRA adapters of the
base kept loaded at once in a worker, default 4) from its ``environment_variables``.
"""

from __future__ import annotations

from pathlib import Path

from ember.entities.online_endpoints import (
    AUTH_MODES,
    CodeConfiguration,
    DataCollector,
    OnlineDeployment,
    OnlineEndpoint,
    ProbeSettings,
    RequestSettings,
)
from ember.specs._schema import Section, asset_name, load_spec
from ember.specs.jobs import _environment
from ember.entities.models import Model
from ember.specs.models import model_from_section

ENDPOINT_KEYS = ("$schema", "name", "description", "tags", "auth_mode", "identity", "traffic",
                 "mirror_traffic", "public_network_access", "kind", "compute")
DEPLOYMENT_KEYS = ("$schema", "name", "endpoint_name", "description", "tags", "model",
                   "code_configuration", "environment", "environment_variables",
                   "instance_type", "instance_count", "app_insights_enabled", "scale_settings",
                   "request_settings", "liveness_probe", "readiness_probe", "data_collector",
                   "egress_public_network_access", "type", "properties", "model_mount_path",
                   "worker_memory_limit_mb", "runtime", "compute")
_REQUEST_KEYS = ("request_timeout_ms", "max_concurrent_requests_per_instance",
                 "max_queue_wait_ms")
_PROBE_KEYS = ("initial_delay", "period", "timeout", "success_threshold", "failure_threshold")


def load_online_endpoint_spec(path: Path, overrides: list[str] | None = None) -> OnlineEndpoint:
    data, ctx = load_spec(path, overrides)
    sec = Section(ctx, data)
    sec.check_keys(ENDPOINT_KEYS)
    return OnlineEndpoint(
        name=asset_name(sec, required=True),
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"),
        auth_mode=sec.get_choice("auth_mode", AUTH_MODES, "key") or "key",
        traffic=_split(sec, "traffic"),
        mirror_traffic=_split(sec, "mirror_traffic"))


def _split(sec: Section, key: str) -> dict[str, int]:
    sub = sec.section(key)
    if sub is None:
        return {}
    out = {}
    for name in sub.data:
        value = sub.get_int(str(name), minimum=0)
        if value is None or value > 100:
            sub.fail(name, "must be a percent from 0 to 100")
        out[str(name)] = value
    return out


def load_online_deployment_spec(path: Path,
                                overrides: list[str] | None = None) -> OnlineDeployment:
    data, ctx = load_spec(path, overrides)
    sec = Section(ctx, data)
    sec.check_keys(DEPLOYMENT_KEYS)
    if sec.get("type") not in (None, "managed"):
        sec.fail("type", f"'{sec.get('type')}' deployments are not supported (Ember runs "
                         "managed-style deployments on local worker processes)")
    if sec.has("model_mount_path"):
        sec.fail("model_mount_path", "custom containers are not supported")
    model = deployment_model(sec)
    code = code_configuration(sec)
    return OnlineDeployment(
        name=asset_name(sec, required=True),
        endpoint_name=sec.get_str("endpoint_name", required=True) or "",
        model=model,
        code_configuration=code,
        environment=_environment(sec),
        environment_variables=sec.get_str_map("environment_variables"),
        instance_type=sec.get_str("instance_type") or "",
        instance_count=sec.get_int("instance_count", minimum=1) or 1,
        request_settings=RequestSettings(**_ints(sec, "request_settings", _REQUEST_KEYS)),
        liveness_probe=ProbeSettings(**_ints(sec, "liveness_probe", _PROBE_KEYS)),
        readiness_probe=ProbeSettings(**_ints(sec, "readiness_probe", _PROBE_KEYS)),
        data_collector=_collector(sec),
        worker_memory_limit_mb=sec.get_int("worker_memory_limit_mb", minimum=1),
        runtime=sec.get_str("runtime"),
        compute=sec.get_str("compute") or "",
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"))


def deployment_model(sec: Section) -> str | Model:
    """A deployment's ``model``: a reference as written, or an inline model (named
    ``<endpoint>-<deployment>-model`` unless it has a name) for the client to register."""
    if isinstance(sec.get("model"), str):
        return sec.get_str("model") or ""
    sub = sec.section("model")
    if sub is None:
        return ""
    return model_from_section(sub, default_name=f"{sec.get_str('endpoint_name') or 'endpoint'}"
                                                f"-{sec.get_str('name') or 'deployment'}-model")


def code_configuration(sec: Section) -> CodeConfiguration | None:
    """``code_configuration``: the code folder (absolute) and a scoring script inside it."""
    csec = sec.section("code_configuration")
    if csec is None:
        return None
    csec.check_keys(("code", "scoring_script"))
    csec.get_str("code", required=True)
    code = CodeConfiguration(code=csec.path_or_uri("code", kind="dir") or "",
                             scoring_script=csec.get_str("scoring_script", required=True) or "")
    if not code.code.startswith(("azureml:", "codes/")) and \
            not (Path(code.code) / code.scoring_script).is_file():
        csec.fail("scoring_script", f"'{code.scoring_script}' is not a file in {code.code}")
    return code


def _ints(sec: Section, key: str, keys: tuple[str, ...]) -> dict[str, int]:
    sub = sec.section(key)
    if sub is None:
        return {}
    sub.check_keys(keys)
    out: dict[str, int] = {}
    for k in keys:
        value = sub.get_int(k, minimum=0)
        if value is not None:
            out[k] = value
    return out


def _collector(sec: Section) -> DataCollector | None:
    sub = sec.section("data_collector")
    if sub is None:
        return None
    sub.check_keys(("sampling_rate", "rolling_rate", "collections", "request_logging"))
    rate = sub.get_number("sampling_rate")
    if rate is not None and not 0 <= rate <= 1:
        sub.fail("sampling_rate", f"must be from 0 to 1, not {rate}")
    collections: dict[str, dict[str, object]] = {}
    csec = sub.section("collections")
    if csec is not None:
        for name in csec.data:
            one = csec.section(str(name))
            if one is None:
                continue
            one.check_keys(("enabled", "data", "client_side"))
            collections[str(name)] = {"enabled": str(one.get("enabled")).lower(),
                                      "data": dict(one.get("data") or {})}
    return DataCollector(sampling_rate=1.0 if rate is None else rate, collections=collections)
