"""Shape checks for the command job settings the Job entity does not model yet (private):
``resources``, ``distribution``, ``services``, ``identity``, ``queue_settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.entities.limits import MAX_JOB_PROCESSES
from ember.specs._schema import Ctx, Section, plain

_RESOURCES_KEYS = ("instance_count", "instance_type", "shm_size", "docker_args", "locations",
                   "max_instance_count", "properties")
_DISTRIBUTION_KEYS = {
    "mpi": ("type", "process_count_per_instance"),
    "pytorch": ("type", "process_count_per_instance"),
    "tensorflow": ("type", "worker_count", "parameter_server_count"),
    "ray": ("type", "address", "port", "dashboard_port", "include_dashboard",
            "head_node_additional_args", "worker_node_additional_args"),
}
_SERVICE_KEYS = ("type", "nodes", "log_dir", "ssh_public_keys", "port", "properties")
_SERVICE_TYPES = ("vs_code", "jupyter_lab", "tensor_board", "ssh", "custom")
_IDENTITY_KEYS = ("type", "client_id", "object_id", "msi_resource_id")
_IDENTITY_TYPES = ("user_identity", "managed", "managed_identity", "aml_token")
_QUEUE_KEYS = ("job_tier", "priority")


def check_settings(top: Section) -> None:
    """Validate the keys and value types of the settings sections present in ``top``."""
    _resources(top.section("resources"))
    _distribution(top.section("distribution"))
    _process_count(top)
    services = top.section("services")
    if services is not None:
        for name in services.data:
            service = services.section(name, required=True)
            assert service is not None
            service.check_keys(_SERVICE_KEYS)
            service.get_choice("type", _SERVICE_TYPES)
            service.get_str("log_dir")
            service.get_int("port", minimum=1)
    identity = top.section("identity")
    if identity is not None:
        identity.check_keys(_IDENTITY_KEYS)
        identity.get_choice("type", _IDENTITY_TYPES, required=True)
        for key in _IDENTITY_KEYS[1:]:
            identity.get_str(key)
    queue = top.section("queue_settings")
    if queue is not None:
        queue.check_keys(_QUEUE_KEYS)
        _lower_choice(queue, "job_tier", ("spot", "basic", "standard", "premium", "null"))
        _lower_choice(queue, "priority", ("low", "medium", "high"))


def plain_section(top: Section, key: str) -> dict[str, Any] | None:
    """The mapping under ``key`` as plain data (None when absent): how ``distribution`` and
    ``resources`` are kept once checked, on jobs, steps, trials and components alike."""
    value = top.get(key)
    return dict(plain(value)) if isinstance(value, Mapping) else None


def check_run_settings(source: str, distribution: Any, resources: Any) -> None:
    """Check ``distribution``/``resources`` given as plain data (the SDK's), as the YAML's
    are; a SpecError names ``source`` and the key."""
    top = Section(Ctx(source, Path.cwd()), {k: v for k, v in (("distribution", distribution),
                                                             ("resources", resources))
                                            if v is not None})
    _resources(top.section("resources"))
    _distribution(top.section("distribution"))
    _process_count(top)


def _process_count(top: Section) -> None:
    """A job's processes all run on this one machine: refuse more than MAX_JOB_PROCESSES."""
    dist = top.data.get("distribution")
    res = top.data.get("resources")
    if not isinstance(dist, dict):
        return
    instances = int(res.get("instance_count") or 1) if isinstance(res, dict) else 1
    if dist.get("type") == "tensorflow":
        count = int(dist.get("worker_count") or instances) + \
            int(dist.get("parameter_server_count") or 0)
    elif dist.get("type") in ("pytorch", "mpi"):
        count = int(dist.get("process_count_per_instance") or 1) * instances
    else:
        return
    if count > MAX_JOB_PROCESSES:
        top.fail("distribution", f"{count} processes: local compute runs every process of a "
                                 f"job on this machine, at most {MAX_JOB_PROCESSES}")


def _resources(sec: Section | None) -> None:
    if sec is None:
        return
    sec.check_keys(_RESOURCES_KEYS)
    sec.get_int("instance_count", minimum=1)
    sec.get_int("max_instance_count", minimum=1)
    sec.get_str("instance_type")
    sec.get_str("shm_size")
    sec.get_str("docker_args")
    locations = sec.get("locations")
    if locations is not None and not isinstance(locations, list):
        sec.fail("locations", "must be a list of region names")
    sec.section("properties")


def _distribution(sec: Section | None) -> None:
    if sec is None:
        return
    kind = sec.get_choice("type", tuple(_DISTRIBUTION_KEYS), required=True)
    assert kind is not None
    sec.check_keys(_DISTRIBUTION_KEYS[kind])
    if kind == "mpi" and not sec.has("process_count_per_instance"):
        sec.fail("process_count_per_instance", "is required for mpi distribution")
    for key in ("process_count_per_instance", "worker_count", "port", "dashboard_port"):
        sec.get_int(key, minimum=1)
    sec.get_int("parameter_server_count", minimum=0)
    sec.get_bool("include_dashboard", False)
    for key in ("address", "head_node_additional_args", "worker_node_additional_args"):
        sec.get_str(key)


def _lower_choice(sec: Section, key: str, choices: tuple[str, ...]) -> None:
    # The SDK accepts these case-insensitively ("Spot", "High").
    value = sec.get_str(key)
    if value is not None and value.lower() not in choices:
        sec.fail(key, f"'{value}' is not one of: {', '.join(choices)}")
