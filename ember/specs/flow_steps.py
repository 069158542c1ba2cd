"""A prompt flow as a pipeline step in YAML: ``component: ./my_flow/flow.dag.yaml`` (or the
flow's folder, or a promptflow ``run.yaml``), as Azure ML runs a flow as a parallel component.

What is here is only what the YAML loader needs and can know without the flow engine:

- :func:`flow_source`: whether a step's ``component:`` path names a flow (a ``flow.dag.yaml``
  file, a folder holding one, or a YAML file whose ``$schema`` is promptflow's Flow or Run
  schema);
- :func:`flow_step_section`: the step's mapping with Azure's flattened connection inputs
  (``connections.<node>.<key>: value``) folded into the one ``connections`` input the flow
  component declares (a JSON string), so the ordinary step-input parser and graph check apply;
- :func:`load_flow_component`: the component itself, built by the loader the client registers
  (:func:`register_flow_loader`). The flow engine (``ember.flows``) sits above this layer, so
  this module cannot read a flow itself: ``ember.client`` registers its loader when imported,
  which every path that loads pipeline YAML from a file (the CLI, ``load_job``, the DSL) does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ember.entities.components import Component
from ember.errors import EmberError, SpecError
from ember.specs import _flow_loader
from ember.specs._flow_loader import FlowLoader, register_flow_loader
from ember.specs._schema import Section, plain
from ember.specs.references import is_uri, local_path_of
from ember.specs.yamlio import load_yaml

FLOW_FILES = ("flow.dag.yaml", "flow.dag.yml")
FLOW_SCHEMA = "promptflow/latest/Flow.schema.json"
RUN_SCHEMA = "promptflow/latest/Run.schema.json"
CONNECTIONS = "connections"
DATA_INPUTS = ("data", "run_outputs")

__all__ = ["FlowLoader", "register_flow_loader"]   # kept here for their importers


def flow_source(path: Path) -> Path | None:
    """``path`` when it names a flow (file or folder) usable as a component, else None."""
    try:
        if path.is_dir():
            return path if any((path / name).is_file() for name in FLOW_FILES) else None
        if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
            return None
    except OSError:
        return None
    if path.name.lower() in FLOW_FILES:
        return path
    schema = _schema_of(path)
    return path if schema.endswith((FLOW_SCHEMA, RUN_SCHEMA)) else None


def is_run_file(path: Path) -> bool:
    """Whether ``path`` is a promptflow run YAML (``$schema`` the Run schema)."""
    return path.is_file() and _schema_of(path).endswith(RUN_SCHEMA)


def _schema_of(path: Path) -> str:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return ""
    for line in head.splitlines():
        if line.startswith("$schema:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


def step_flow_source(sec: Section) -> Path | None:
    """The flow a pipeline step's ``component:`` names (a local path), or None."""
    value = sec.get("component")
    if not isinstance(value, str) or not value.strip() or value.startswith("azureml:"):
        return None
    if is_uri(value):
        return None
    target = Path(local_path_of(value)).expanduser()
    if not target.is_absolute():
        target = sec.ctx.base_dir / target
    return flow_source(target.resolve())


def load_flow_component(path: Path, sec: Section | None = None) -> Component:
    """The flow's component, through the registered loader. Errors that do not name a file
    already (a SpecError from the flow loader does) are said at the step's ``component:``."""
    if _flow_loader.loader is None:
        message = ("a prompt flow as a component is loaded by Ember's client; import "
                   "ember.client before loading this YAML")
        if sec is not None:
            sec.fail("component", message)
        raise SpecError(message, file=str(path))
    try:
        return _flow_loader.loader(path)
    except SpecError:
        raise
    except EmberError as exc:
        if sec is not None:
            sec.fail("component", exc.message)
        raise


def flow_step_section(sec: Section) -> Section:
    """``sec`` with its ``connections.<node>.<key>`` inputs (Azure's flattened form) and a
    ``connections: {node: {key: value}}`` mapping folded into one ``connections`` input whose
    value is that mapping as a JSON string. Anything else is left as written."""
    inputs = sec.data.get("inputs") if isinstance(sec.data, Mapping) else None
    if not isinstance(inputs, Mapping):
        return sec
    sub = sec.section("inputs")
    assert sub is not None
    folded: dict[str, dict[str, Any]] = {}
    rest = CommentedMap()
    first_line: int | None = None
    for key, value in inputs.items():
        line = sub.line(key)
        if key == CONNECTIONS and isinstance(value, Mapping):
            for node, keys in value.items():
                if not isinstance(keys, Mapping):
                    sub.fail(key, f"connections.{node} must be a mapping {{connection: <name>, "
                                  "deployment_name: ...}}")
                folded.setdefault(str(node), {}).update(
                    {str(k): _connection_value(sub, key, v) for k, v in keys.items()})
        elif isinstance(key, str) and key.startswith(CONNECTIONS + "."):
            parts = key.split(".")
            if len(parts) != 3 or not all(parts):
                sub.fail(key, "a connection input is connections.<node>.<key>",
                         hint="e.g. connections.summarize.connection: my_openai")
            folded.setdefault(parts[1], {})[parts[2]] = _connection_value(sub, key, value)
        else:
            if key not in DATA_INPUTS and isinstance(value, (bool, int, float)):
                value = json.dumps(value)   # a literal mapping value: the inputs are strings
            rest[key] = value
            if line is not None:
                rest.lc.add_kv_line_col(key, [line - 1, 0, line - 1, 0])
            continue
        first_line = first_line if first_line is not None else line
    if not folded:
        return _with_inputs(sec, rest)
    rest[CONNECTIONS] = json.dumps(folded, sort_keys=True)
    if first_line is not None:
        rest.lc.add_kv_line_col(CONNECTIONS, [first_line - 1, 0, first_line - 1, 0])
    return _with_inputs(sec, rest)


def _with_inputs(sec: Section, inputs: CommentedMap) -> Section:
    """A copy of the step section with ``inputs`` replaced, lines kept for error messages."""
    data = CommentedMap()
    for key, value in sec.data.items():
        data[key] = inputs if key == "inputs" else value
        line = sec.line(key)
        if line is not None:
            data.lc.add_kv_line_col(key, [line - 1, 0, line - 1, 0])
    return Section(sec.ctx, data, sec.path, sec.line_hint)


def _connection_value(sub: Section, key: Any, value: Any) -> Any:
    value = plain(value)
    if isinstance(value, (Mapping, list)) or value is None:
        sub.fail(key, "a connection setting is a name or a value (a string), not "
                      f"{'nothing' if value is None else type(value).__name__}")
    if isinstance(value, str) and "${{" in value:
        sub.fail(key, "connection settings are literals here; a binding such as "
                      f"{value} is not supported for them yet",
                 hint="write the connection's name")
    return value


def read_run_file(path: Path) -> dict[str, Any]:
    """A promptflow ``run.yaml`` as plain data (``flow``, ``column_mapping``, ``connections``,
    ``environment_variables``, ``variant``...). Raises SpecError naming the file."""
    return dict(plain(load_yaml(path)))
