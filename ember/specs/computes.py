"""Compute YAML (``az ml compute create -f``) → :class:`~ember.entities.computes.Compute`.

``type: local`` describes the built-in compute; ``type: ray`` needs ``address`` (the cluster's
job-submission URL) and takes ``max_concurrent_jobs`` and ``resources``. Azure ML's other compute
types are refused naming the supported ones.
"""

from __future__ import annotations

from pathlib import Path

from ember.entities.computes import AZURE_ONLY_TYPES, COMPUTE_TYPES, Compute, ray_address_problem
from ember.specs._schema import Section, load_spec

COMPUTE_KEYS = ("$schema", "name", "type", "description", "tags", "address",
                "max_concurrent_jobs", "resources")
_RAY_ONLY = ("address", "max_concurrent_jobs", "resources")


def load_compute_spec(path: Path, overrides: list[str] | None = None) -> Compute:
    """Load a compute YAML file, apply ``--set`` overrides, validate.

    Raises SpecError naming the file, line and key of the first problem.
    """
    data, ctx = load_spec(path, overrides)
    return compute_from_section(Section(ctx, data))


def compute_from_section(sec: Section) -> Compute:
    sec.check_keys(COMPUTE_KEYS)
    name = sec.get_str("name", required=True) or ""
    type_ = sec.get_str("type", required=True) or ""
    if type_.lower() in AZURE_ONLY_TYPES:
        sec.fail("type", f"'{type_}' is an Azure ML compute type Ember does not provide; "
                         f"supported types: {', '.join(COMPUTE_TYPES)}")
    type_ = sec.get_choice("type", COMPUTE_TYPES, required=True) or ""
    compute = Compute(name=name, type=type_,
                      description=sec.get_str("description", nonempty=False) or "",
                      tags=sec.get_str_map("tags"))
    if type_ != "ray":
        for key in _RAY_ONLY:
            if sec.has(key):
                sec.fail(key, f"applies to 'type: ray' only, not '{type_}'")
        return compute
    address = sec.get_str("address", required=True) or ""
    problem = ray_address_problem(address)
    if problem:
        sec.fail("address", problem)
    compute.address = address
    compute.max_concurrent_jobs = sec.get_int("max_concurrent_jobs", minimum=1)
    res = sec.section("resources")
    if res is not None:
        for key in res.data:
            value = res.get_number(str(key))
            if value is None or value < 0:
                res.fail(key, "must be a number >= 0")
            compute.resources[str(key)] = value
    return compute
