"""Pipeline step ``inputs``/``outputs`` → :class:`~ember.entities.pipelines.Binding` (private).

Accepted forms, for a step input:

- a literal (string, number, integer, boolean);
- ``${{parent.inputs.x}}`` or ``${{parent.jobs.<step>.outputs.<o>}}`` (the whole value);
- a mapping ``{type, path, mode}`` whose ``path`` is a local path, a URI, an ``azureml:`` data
  reference or one of the expressions above; or ``{value: <literal>}``.

For a step output: empty (a plain output), ``${{parent.outputs.y}}``, or a mapping
``{type, mode, path}`` whose ``path`` is ``${{parent.outputs.y}}`` or a path/URI (which may
use the server-side tokens ``${{name}}``, ``${{output_name}}``, ``${{default_datastore}}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ember.entities.jobs import (
    DATA_INPUT_TYPES,
    INPUT_MODES,
    LITERAL_TYPES,
    OUTPUT_MODES,
    OUTPUT_TYPES,
    literal_type,
)
from ember.entities.pipelines import Binding
from ember.specs._job_io import _check_name
from ember.specs._schema import Section, plain
from ember.specs.yamlio import type_name

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_EXPR = re.compile(r"^\$\{\{\s*(?P<body>.*?)\s*\}\}$", re.DOTALL)
_PARENT_INPUT = re.compile(rf"^parent\.inputs\.(?P<name>{_NAME})$")
_PARENT_OUTPUT = re.compile(rf"^parent\.outputs\.(?P<name>{_NAME})$")
_STEP_PORT = re.compile(rf"^parent\.jobs\.(?P<step>{_NAME})\.(?P<kind>inputs|outputs)"
                        rf"\.(?P<name>{_NAME})$")
_SERVER_TOKENS = ("name", "output_name", "default_datastore")
_INPUT_MAP_KEYS = ("type", "path", "mode", "value", "default", "optional", "description")
_OUTPUT_MAP_KEYS = ("type", "path", "mode", "description")
_INPUT_HINT = ("use ${{parent.inputs.<name>}} or ${{parent.jobs.<step>.outputs.<name>}} as the "
               "whole value")


def parse_step_inputs(step: Section) -> dict[str, Binding]:
    sub = step.section("inputs")
    if sub is None:
        return {}
    out: dict[str, Binding] = {}
    for name, value in sub.data.items():
        _check_name(sub, name)
        line = sub.line(name)
        if isinstance(value, Mapping):
            sec = Section(sub.ctx, value, sub.key_path(name), line)
            binding = _mapped_input(sec)
        elif value is None:
            sub.fail(name, "has no value", hint="give a literal, a binding such as "
                     "${{parent.inputs.x}}, or leave the input out")
        elif isinstance(value, str) and "${{" in value:
            binding = _input_expression(sub, name, value)
        else:
            kind = literal_type(value)
            if kind is None:
                sub.fail(name, f"must be a literal, a binding or a mapping {{type, path, mode}}, "
                               f"not {type_name(value)}")
            binding = Binding(literal=plain(value), type=kind)
        binding.line = line
        out[name] = binding
    return out


def parse_step_outputs(step: Section) -> dict[str, Binding]:
    sub = step.section("outputs")
    if sub is None:
        return {}
    out: dict[str, Binding] = {}
    for name, value in sub.data.items():
        _check_name(sub, name)
        line = sub.line(name)
        if value is None:
            binding = Binding()
        elif isinstance(value, str):
            binding = _output_expression(sub, name, value)
        elif isinstance(value, Mapping):
            sec = Section(sub.ctx, value, sub.key_path(name), line)
            sec.check_keys(_OUTPUT_MAP_KEYS)
            sec.get_str("description", nonempty=False)
            type_ = sec.get_choice("type", OUTPUT_TYPES)
            mode = sec.get_choice("mode", OUTPUT_MODES)
            path = sec.get_str("path")
            binding = Binding()
            if path is not None:
                if "${{" in path and _EXPR.match(path.strip()):
                    binding = _output_expression(sec, "path", path)
                else:
                    binding = Binding(path=_output_path(sec, path))
            binding.type, binding.mode = type_, mode
        else:
            sub.fail(name, "must be empty, ${{parent.outputs.<name>}} or a mapping "
                           f"{{type, mode, path}}, not {type_name(value)}")
        binding.line = line
        out[name] = binding
    return out


def _mapped_input(sec: Section) -> Binding:
    sec.check_keys(_INPUT_MAP_KEYS)
    sec.get_str("description", nonempty=False)
    sec.get_bool("optional", False)
    type_ = sec.get_choice("type", LITERAL_TYPES + DATA_INPUT_TYPES)
    mode = sec.get_choice("mode", INPUT_MODES)
    given_key = "value" if sec.has("value") else "default"
    given = sec.get(given_key)
    path = sec.get_str("path")
    if given is not None and path is not None:
        sec.fail(given_key, "give either 'path' (data) or a value (literal), not both")
    if given is not None:
        if isinstance(given, str) and "${{" in given:
            binding = _input_expression(sec, given_key, given)
        else:
            kind = literal_type(given)
            if kind is None:
                sec.fail(given_key, f"must be a literal value, not {type_name(given)}")
            if type_ is not None and type_ not in LITERAL_TYPES:
                sec.fail(given_key, f"is only for literal inputs; a {type_} input takes 'path:'")
            binding = Binding(literal=plain(given))
            binding.type = type_ or kind
        if mode is not None:
            sec.fail("mode", "is only for data inputs")
        binding.type = binding.type or type_
        return binding
    if path is None:
        sec.fail("path", "is required", hint="give 'path:' (a path, URI or binding) or 'value:'")
    if type_ is not None and type_ in LITERAL_TYPES:
        sec.fail("path", f"is only for data inputs, not a {type_} input")
    if "${{" in path:
        binding = _input_expression(sec, "path", path)
    else:
        binding = Binding(path=sec.path_or_uri("path", kind=None))
    binding.type, binding.mode = type_, mode
    return binding


def _input_expression(sec: Section, key: Any, text: str) -> Binding:
    found = _EXPR.match(text.strip())
    if found is None:
        sec.fail(key, f"{text!r} mixes a ${{{{...}}}} binding with other text",
                 hint=_INPUT_HINT)
    body = found["body"]
    if m := _PARENT_INPUT.match(body):
        return Binding(parent_input=m["name"])
    if m := _STEP_PORT.match(body):
        if m["kind"] == "inputs":
            sec.fail(key, f"{text}: binding to another step's input is not supported",
                     hint="bind to what that step's input is bound to")
        return Binding(step=m["step"], step_output=m["name"])
    if _PARENT_OUTPUT.match(body):
        sec.fail(key, f"{text}: a step input cannot read a pipeline output",
                 hint="bind to the step output that produces it: "
                      "${{parent.jobs.<step>.outputs.<name>}}")
    sec.fail(key, f"unsupported binding {text}", hint=_INPUT_HINT)


def _output_expression(sec: Section, key: Any, text: str) -> Binding:
    found = _EXPR.match(text.strip())
    if found is not None and (m := _PARENT_OUTPUT.match(found["body"])):
        return Binding(parent_output=m["name"])
    sec.fail(key, f"unsupported output binding {text!r}",
             hint="a step output is empty, ${{parent.outputs.<name>}} or {type, mode, path}")


def _output_path(sec: Section, path: str) -> str:
    for token in re.findall(r"\$\{\{\s*(.*?)\s*\}\}", path):
        if token not in _SERVER_TOKENS:
            sec.fail("path", f"unsupported expression ${{{{{token}}}}} in an output path",
                     hint="output paths may use ${{name}}, ${{output_name}}, "
                          "${{default_datastore}}")
    if "${{" in path:
        return path
    return sec.path_or_uri("path", kind=None) or path
