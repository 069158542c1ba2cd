"""Command components: reusable, versioned command steps (reference 1.4)."""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.codec import from_plain
from ember.entities.environments import Environment
from ember.errors import InvalidInputError

COMPONENT_LITERAL_TYPES = ("number", "integer", "boolean", "string")
COMPONENT_DATA_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")
COMPONENT_INPUT_TYPES = COMPONENT_LITERAL_TYPES + COMPONENT_DATA_TYPES
COMPONENT_OUTPUT_TYPES = COMPONENT_DATA_TYPES
NUMERIC_TYPES = ("number", "integer")

# Reference 1.4: starts with a lowercase letter, then [a-z0-9_], at most 255 characters.
_COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,254}$")


def component_name_error(name: str) -> str | None:
    """Why ``name`` is not a valid component name, or None when it is."""
    if _COMPONENT_NAME.match(name):
        return None
    return (f"'{name}' is not a valid component name: start with a lowercase letter, then "
            "lowercase letters, digits and '_' (at most 255 characters)")


def check_component_name(name: str) -> None:
    error = component_name_error(name)
    if error:
        raise InvalidInputError(error)


def overlay_run_settings(
        distribution: dict[str, Any] | None, resources: dict[str, Any] | None,
        over_distribution: dict[str, Any] | None, over_resources: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A component's ``distribution``/``resources`` with a pipeline step's on top (Azure ML:
    the step's value wins). The step's ``distribution`` replaces the component's whole (its
    keys depend on its ``type``); ``resources`` merge key by key, the step's keys winning, so
    a step can add ``instance_count`` to the component's ``shm_size``. Copies, never the
    given dicts."""
    dist = over_distribution if over_distribution is not None else distribution
    if resources is None and over_resources is None:
        return copy.deepcopy(dist), None
    return copy.deepcopy(dist), copy.deepcopy({**(resources or {}), **(over_resources or {})})


@dataclass
class ComponentInput:
    type: str
    description: str = ""
    default: Any = None
    optional: bool = False
    min: float | None = None
    max: float | None = None
    enum: list[str] | None = None


@dataclass
class ComponentOutput:
    type: str = "uri_folder"
    description: str = ""


@dataclass
class Component:
    """A component version.

    ``code`` is an absolute local path (from a spec, before upload) or an uploaded snapshot
    ``codes/<hash>``; ``environment`` an asset reference string or an inline Environment.
    ``distribution`` and ``resources`` are plain data as written in the YAML (as on
    :class:`~ember.entities.jobs.Job`): the jobs made from the component (pipeline steps,
    sweep trials, a component called as a command) start with them.
    """

    name: str
    command: str
    version: str = ""
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    type: str = "command"
    is_deterministic: bool = True
    code: str | None = None
    environment: str | Environment | None = None
    inputs: dict[str, ComponentInput] = field(default_factory=dict)
    outputs: dict[str, ComponentOutput] = field(default_factory=dict)
    additional_includes: list[str] = field(default_factory=list)
    distribution: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None
    archived: bool = False
    creation_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Component:
        """The inverse of :meth:`to_dict` (unknown keys ignored)."""
        return from_plain(cls, d)
