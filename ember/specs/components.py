"""Command component YAML (reference 1.4) → :class:`~ember.entities.components.Component`.

Decisions:

- ``type`` defaults to ``command``; ``pipeline`` components are refused for now.
- ``name`` follows the component rule (lowercase letter first, then ``[a-z0-9_]``);
  ``version`` as for other assets ("" means the next integer at registration).
- ``environment`` is required: an asset reference kept as written, or an inline mapping.
- ``code`` is an absolute local path (checked to exist) or a URI kept as written;
  ``additional_includes`` entries are resolved to absolute local paths that must exist.
- Inputs need a ``type``; ``min``/``max`` only on number/integer, ``enum`` only on string,
  and a ``default`` must fit them. Outputs are data types (``uri_folder`` by default).
- ``distribution`` and ``resources`` are shape-checked and kept as plain data (the jobs made
  from the component start with them; a pipeline step's own values win).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from ember.entities.components import (
    COMPONENT_DATA_TYPES,
    COMPONENT_INPUT_TYPES,
    COMPONENT_OUTPUT_TYPES,
    NUMERIC_TYPES,
    Component,
    ComponentInput,
    ComponentOutput,
    component_name_error,
)
from ember.entities.environments import Environment
from ember.errors import InvalidInputError
from ember.specs._job_io import _check_name, _coerce
from ember.specs._job_settings import _distribution, _resources, plain_section
from ember.specs._schema import Section, asset_version, load_spec, plain
from ember.specs.environments import environment_from_section
from ember.specs.expressions import validate_command
from ember.specs.references import parse_asset_ref
from ember.specs.yamlio import type_name

COMPONENT_KEYS = ("$schema", "type", "name", "version", "display_name", "description", "tags",
                  "is_deterministic", "command", "code", "additional_includes", "environment",
                  "distribution", "resources", "inputs", "outputs")
COMPONENT_INPUT_KEYS = ("type", "description", "default", "optional", "min", "max", "enum")
COMPONENT_OUTPUT_KEYS = ("type", "description")
LATER_TYPES = ("pipeline",)


def load_component_spec(path: Path, overrides: list[str] | None = None) -> Component:
    """Load a component YAML file, apply ``--set`` overrides, validate.

    Raises SpecError naming the file, line and key of the first problem.
    """
    data, ctx = load_spec(path, overrides)
    return _component(Section(ctx, data))


def _component(top: Section) -> Component:
    kind = top.get_str("type") or "command"
    if kind != "command":
        if kind in LATER_TYPES:
            top.fail("type", f"component type '{kind}' is not supported yet")
        close = difflib.get_close_matches(kind, ("command", *LATER_TYPES), n=1)
        top.fail("type", f"unknown component type '{kind}'",
                 hint=f"did you mean '{close[0]}'?" if close else None)
    top.check_keys(COMPONENT_KEYS)
    name = top.get_str("name", required=True) or ""
    error = component_name_error(name)
    if error:
        top.fail("name", error)
    inputs = _inputs(top)
    outputs = _outputs(top)
    command = top.get_str("command", required=True) or ""
    override = top.ctx.override_for("command")
    validate_command(command, inputs, outputs, top.ctx.source, top.line("command"),
                     note=f"set by --set {override}" if override else None)
    _resources(top.section("resources"))
    _distribution(top.section("distribution"))
    return Component(
        name=name,
        version=asset_version(top),
        command=command,
        display_name=top.get_str("display_name", nonempty=False) or "",
        description=top.get_str("description", nonempty=False) or "",
        tags=top.get_str_map("tags"),
        is_deterministic=top.get_bool("is_deterministic", True),
        code=top.path_or_uri("code", kind="any"),
        environment=_environment(top),
        inputs=inputs,
        outputs=outputs,
        additional_includes=_includes(top),
        distribution=plain_section(top, "distribution"),
        resources=plain_section(top, "resources"),
    )


def _environment(top: Section) -> str | Environment:
    value = top.get("environment")
    if value is None:
        top.fail("environment", "is required",
                 hint="e.g. environment: azureml:<name>:<version>, or an inline mapping")
    if isinstance(value, Mapping):
        sub = top.section("environment")
        assert sub is not None
        return environment_from_section(sub, inline=True)
    if not isinstance(value, str):
        top.fail("environment", f"must be a reference or a mapping, not {type_name(value)}")
    try:
        parse_asset_ref(value)
    except InvalidInputError as exc:
        top.fail("environment", exc.message,
                 hint="use azureml:<name>:<version>, azureml:<name>@latest, or an inline "
                      "mapping such as {image: python:3.11-slim}")
    return str(value)


def _includes(top: Section) -> list[str]:
    value = top.get("additional_includes")
    if value is None:
        return []
    if not isinstance(value, list):
        top.fail("additional_includes", f"must be a list of paths, not {type_name(value)}")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            top.fail("additional_includes", f"entries must be paths, not {type_name(item)}")
        out.append(top.local_path("additional_includes", item, kind="any"))
    return out


def _inputs(top: Section) -> dict[str, ComponentInput]:
    sub = top.section("inputs")
    if sub is None:
        return {}
    out: dict[str, ComponentInput] = {}
    for name, value in sub.data.items():
        _check_name(sub, name)
        if not isinstance(value, Mapping):
            sub.fail(name, f"must be a mapping {{type, default, optional...}}, not "
                           f"{type_name(value)}", hint="e.g. {type: integer, default: 3}")
        out[name] = _input(Section(sub.ctx, value, sub.key_path(name), sub.line(name)))
    return out


def _input(sec: Section) -> ComponentInput:
    sec.check_keys(COMPONENT_INPUT_KEYS)
    type_ = sec.get_choice("type", COMPONENT_INPUT_TYPES, required=True) or ""
    description = sec.get_str("description", nonempty=False) or ""
    optional = sec.get_bool("optional", False)
    for key in ("min", "max"):
        if sec.has(key) and type_ not in NUMERIC_TYPES:
            sec.fail(key, f"is only for number and integer inputs, not a {type_} input")
    low, high = _bound(sec, "min", type_), _bound(sec, "max", type_)
    if low is not None and high is not None and low > high:
        sec.fail("max", f"must not be less than min ({low})")
    enum = _enum(sec, type_)
    default = sec.get("default")
    if default is not None:
        if type_ in COMPONENT_DATA_TYPES:
            if not isinstance(default, str):
                sec.fail("default", f"must be a path or URI, not {type_name(default)}")
            default = str(default)
        else:
            default = _coerce(sec, "default", type_, default)
            if low is not None and default < low:
                sec.fail("default", f"{default} is less than min ({low})")
            if high is not None and default > high:
                sec.fail("default", f"{default} is greater than max ({high})")
            if enum is not None and default not in enum:
                sec.fail("default", f"'{default}' is not one of enum: {', '.join(enum)}")
    return ComponentInput(type=type_, description=description, default=default,
                          optional=optional, min=low, max=high, enum=enum)


def _bound(sec: Section, key: str, type_: str) -> float | None:
    if type_ == "integer":
        value = sec.get_int(key)
        return None if value is None else value
    return sec.get_number(key)


def _enum(sec: Section, type_: str) -> list[str] | None:
    value = sec.get("enum")
    if value is None:
        return None
    if type_ != "string":
        sec.fail("enum", f"is only for string inputs, not a {type_} input")
    if not isinstance(value, list) or not value:
        sec.fail("enum", f"must be a non-empty list of strings, not {type_name(value)}")
    items = plain(value)
    if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
        sec.fail("enum", "entries must be strings")
    return [str(v) for v in items]


def _outputs(top: Section) -> dict[str, ComponentOutput]:
    sub = top.section("outputs")
    if sub is None:
        return {}
    out: dict[str, ComponentOutput] = {}
    for name, value in sub.data.items():
        _check_name(sub, name)
        if value is None:
            out[name] = ComponentOutput()
            continue
        if not isinstance(value, Mapping):
            sub.fail(name, f"must be empty or a mapping {{type, description}}, not "
                           f"{type_name(value)}")
        sec = Section(sub.ctx, value, sub.key_path(name), sub.line(name))
        sec.check_keys(COMPONENT_OUTPUT_KEYS)
        out[name] = ComponentOutput(
            type=sec.get_choice("type", COMPONENT_OUTPUT_TYPES, "uri_folder") or "uri_folder",
            description=sec.get_str("description", nonempty=False) or "")
    return out

