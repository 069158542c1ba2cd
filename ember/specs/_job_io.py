"""Command job ``inputs`` and ``outputs`` → JobInput / JobOutput (private to ember.specs).

Representation in the entities:

- literal input: ``JobInput(type=string|number|integer|boolean, value=<plain value>)``;
- data input: ``JobInput(type, path, mode)``; ``path`` is an absolute local path (checked to
  exist), an ``azureml:name:version`` data asset reference, or a URI, kept as written; ``mode``
  defaults to ``ro_mount``;
- ``optional: true`` inputs may have no value/path (``value``/``path`` None).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.entities.jobs import (
    DATA_INPUT_TYPES,
    INPUT_MODES,
    LITERAL_TYPES,
    OUTPUT_MODES,
    OUTPUT_TYPES,
    JobInput,
    JobOutput,
    literal_type,
)
from ember.errors import InvalidInputError
from ember.specs._schema import Section, plain
from ember.specs.references import parse_asset_ref
from ember.specs.yamlio import type_name

INPUT_KEYS = ("type", "path", "mode", "optional", "default", "value", "description")
OUTPUT_KEYS = ("type", "path", "mode", "description")
RESERVED_IO_NAMES = frozenset({"path", "ld_library_path", "user", "logname", "home", "pwd",
                               "shell"})
_IO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What a local path must be for each data type; the marker file a folder must hold.
_PATH_KIND = {"uri_file": "file", "uri_folder": "dir", "mltable": "dir", "mlflow_model": "dir",
              "custom_model": "any", "triton_model": "dir"}
_MARKER = {"mltable": "MLTable", "mlflow_model": "MLmodel"}


def parse_inputs(top: Section) -> dict[str, JobInput]:
    """The ``inputs`` mapping of a job (empty when absent)."""
    sub = top.section("inputs")
    if sub is None:
        return {}
    out: dict[str, JobInput] = {}
    for name, value in sub.data.items():
        _check_name(sub, name)
        if isinstance(value, Mapping):
            out[name] = _mapped_input(Section(sub.ctx, value, sub.key_path(name),
                                              sub.line(name)))
        elif value is None:
            sub.fail(name, "has no value",
                     hint="give a literal value, or a mapping such as {type: integer, "
                          "optional: true}")
        else:
            kind = literal_type(value)
            if kind is None:
                sub.fail(name, "must be a literal (string, number, integer, boolean) or a "
                               f"mapping {{type, path, mode}}, not {type_name(value)}")
            out[name] = JobInput(type=kind, value=plain(value))
    return out


def parse_outputs(top: Section) -> dict[str, JobOutput]:
    """The ``outputs`` mapping of a job; an empty value means a default uri_folder output."""
    sub = top.section("outputs")
    if sub is None:
        return {}
    out: dict[str, JobOutput] = {}
    for name, value in sub.data.items():
        _check_name(sub, name)
        if value is None:
            out[name] = JobOutput()
            continue
        if not isinstance(value, Mapping):
            sub.fail(name, f"must be empty or a mapping {{type, path, mode}}, not "
                           f"{type_name(value)}")
        sec = Section(sub.ctx, value, sub.key_path(name), sub.line(name))
        sec.check_keys(OUTPUT_KEYS)
        sec.get_str("description", nonempty=False)
        type_ = sec.get_choice("type", OUTPUT_TYPES, "uri_folder") or "uri_folder"
        mode = sec.get_choice("mode", OUTPUT_MODES, "rw_mount") or "rw_mount"
        out[name] = JobOutput(type=type_, path=sec.path_or_uri("path", kind=None), mode=mode)
    return out


def _check_name(sub: Section, name: Any) -> None:
    if not isinstance(name, str) or not _IO_NAME.match(name):
        sub.fail(name, "is not a valid name: use letters, digits and '_', not starting with "
                       "a digit")
    if name.lower() in RESERVED_IO_NAMES:
        sub.fail(name, f"'{name}' is a reserved name",
                 hint=f"reserved: {', '.join(sorted(RESERVED_IO_NAMES))}")


def _mapped_input(sec: Section) -> JobInput:
    sec.check_keys(INPUT_KEYS)
    sec.get_str("description", nonempty=False)
    optional = sec.get_bool("optional", False)
    given_key = "value" if sec.has("value") else "default"
    given = sec.get(given_key)
    type_ = sec.get_choice("type", LITERAL_TYPES + DATA_INPUT_TYPES)
    if type_ is None:
        type_ = literal_type(given) if given is not None and not sec.has("path") else None
        type_ = type_ or "uri_folder"
    if type_ in LITERAL_TYPES:
        for key in ("path", "mode"):
            if sec.has(key):
                sec.fail(key, f"is only for data inputs, not a {type_} input")
        if given is None and not optional:
            sec.fail(None, "has no value", hint="set 'default:' or 'optional: true'")
        value = None if given is None else _coerce(sec, given_key, type_, given)
        return JobInput(type=type_, value=value, optional=optional)
    for key in ("default", "value"):
        if sec.has(key):
            sec.fail(key, f"is only for literal inputs; a {type_} input takes 'path:'")
    mode = sec.get_choice("mode", INPUT_MODES, "ro_mount") or "ro_mount"
    if mode.startswith("eval_") and type_ != "mltable":
        sec.fail("mode", f"'{mode}' is only for mltable inputs")
    path = sec.path_or_uri("path", kind=_PATH_KIND[type_])
    if path is None:
        if not optional:
            sec.fail("path", f"is required for a {type_} input")
    elif path.startswith("azureml:") and not path.startswith("azureml://"):
        try:
            parse_asset_ref(path)
        except InvalidInputError as exc:
            sec.fail("path", exc.message)
    elif type_ in _MARKER and Path(path).is_absolute() and Path(path).is_dir():
        if not (Path(path) / _MARKER[type_]).is_file():
            sec.fail("path", f"a {type_} folder must contain an '{_MARKER[type_]}' file: {path}")
    return JobInput(type=type_, path=path, mode=mode, optional=optional)


def _coerce(sec: Section, key: str, type_: str, value: Any) -> Any:
    if type_ == "string" and isinstance(value, (str, int, float, bool)):
        return str(plain(value))
    ok = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value),
        "boolean": isinstance(value, bool),
    }.get(type_, False)
    if not ok:
        sec.fail(key, f"must be of type {type_} (the input's type), not {type_name(value)}")
    return plain(value)
