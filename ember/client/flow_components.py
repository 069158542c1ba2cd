"""A prompt flow as a pipeline component: ``load_component("my_flow/flow.dag.yaml")``, or
``component: ./my_flow/flow.dag.yaml`` in a pipeline YAML step, as in Azure ML (azure-ai-ml
1.12+, where it is a parallel component).

Ember has no parallel runtime: the flow is a *command* component whose command is the flow
run's entry point (``python -m ember.flows.batch``, see :mod:`ember.client.flow_runs`); the
lines of the data run concurrently inside the step (``PF_WORKER_COUNT``). Its interface is
Azure's:

- inputs: ``data`` (uri_folder, required: a jsonl/json/csv/tsv file or a folder with one),
  ``run_outputs`` (uri_folder, optional: a base run's output for ``${run.outputs.x}``; bind
  a flow step's ``debug_info``), ``connections`` (a JSON string; the SDK takes the dict
  ``{node: {connection: x, deployment_name: y}}``, the YAML Azure's flattened
  ``connections.<node>.<key>`` inputs), and one optional string input per flow input, whose
  value is the column mapping entry (``${data.text}``, ``${run.outputs.x}`` or a literal);
  an input left unset is not mapped (the flow input's default, then a same-named column);
- outputs: ``flow_outputs`` (uri_folder holding ``output.jsonl`` only: one row per line that
  succeeded, ``line_number`` + the flow's outputs, so the next step reads it as its data) and
  ``debug_info`` (uri_folder: the flow run's whole output, ``details.jsonl``,
  ``output.jsonl``, ``metrics.json``, ``summary.json``). The aggregation's ``log_metric``
  values land on the step's MLflow run.

Decisions where Azure is not copied:

- The column mapping inputs are declared from the flow's inputs, so a name the flow does not
  take is refused when the step is built (Azure accepts any name and fails in the job).
- A flow input named ``data``, ``run_outputs`` or ``connections`` has no mapping input (the
  names are the component's); it takes its default or the same-named column.
- ``$schema`` is not required: a file named ``flow.dag.yaml`` (or a folder holding one) is a
  flow; another YAML file is one when its ``$schema`` is promptflow's Flow or Run schema.
- The component's name is the flow folder's name made a valid component name
  (``web-classification`` -> ``web_classification``); set ``.component.name`` to change it.
- A run YAML (``$schema: .../Run.schema.json``, ``flow: ./folder``) gives the component its
  ``column_mapping`` as input defaults, ``connections`` as that input's default, and its
  ``variant`` and ``environment_variables`` for every line.
- Mapping values cross the shell as quoted here-documents, so ``${data.text}``, quotes and
  ``$`` arrive as written; trailing newlines of a literal are dropped.
- A flow with ``additional_includes`` is staged once, at load, into a temporary folder removed
  when the process exits (the same staging as a flow run's).
"""

from __future__ import annotations

import atexit
import json
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ember.client.dsl import ArgumentError, ComponentFunc
from ember.client.flow_runs import staged_flow, with_requirements
from ember.entities.components import Component, ComponentInput, ComponentOutput
from ember.errors import InvalidInputError, SpecError
from ember.flows.dag import Flow
from ember.flows.batch import BatchConfig
from ember.flows.loader import load_flow
from ember.specs._job_io import RESERVED_IO_NAMES
from ember.specs.flow_steps import CONNECTIONS, flow_source, is_run_file, read_run_file

DATA = "data"
RUN_OUTPUTS = "run_outputs"
FLOW_OUTPUTS = "flow_outputs"
DEBUG_INFO = "debug_info"
FIXED_INPUTS = (DATA, RUN_OUTPUTS, CONNECTIONS)
_IO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Ends each here-document that carries a step input's value into the command.
_EOF = "EMBER_FLOW_ARG"

_staged = ExitStack()
atexit.register(_staged.close)


def is_flow(source: str | Path) -> bool:
    """Whether ``source`` names a flow (see the module's notes on how that is told)."""
    return flow_source(Path(source)) is not None


def flow_component(source: str | Path) -> Component:
    """The command component that runs the flow at ``source`` (a ``flow.dag.yaml``, its
    folder, or a promptflow run YAML) over a step's ``data``.

    Raises SpecError naming the file when the flow (or run YAML) does not validate.
    """
    path = Path(source).resolve()
    run: dict[str, Any] = {}
    if is_run_file(path):
        run = read_run_file(path)
        target = run.get("flow")
        if not isinstance(target, str) or not target.strip():
            raise SpecError("flow: a run YAML used as a component names its flow folder",
                            file=str(path), key="flow")
        flow_path = (path.parent / target).resolve()
    else:
        flow_path = path
    variant = run.get("variant") or None
    flow = load_flow(flow_path, variant=variant)
    mapping_defaults = _str_map(run.get("column_mapping"), path, "column_mapping")
    connections = run.get(CONNECTIONS) or {}
    if not isinstance(connections, dict) or not all(isinstance(v, dict)
                                                    for v in connections.values()):
        raise SpecError("connections: must be a mapping {node: {connection: <name>, ...}}",
                        file=str(path), key=CONNECTIONS)

    inputs: dict[str, ComponentInput] = {
        DATA: ComponentInput(type="uri_folder",
                             description="the lines: a jsonl/json/csv/tsv file, or a folder "
                                         "holding one"),
        RUN_OUTPUTS: ComponentInput(type="uri_folder", optional=True,
                                    description="a base run's output (a flow step's "
                                                "debug_info), for ${run.outputs.<name>}"),
        CONNECTIONS: ComponentInput(
            type="string", optional=True, default=json.dumps(connections) if connections
            else None, description='JSON {"<node>": {"connection": ..., '
                                   '"deployment_name": ...}}'),
    }
    mapped: list[str] = []
    for name, spec in flow.inputs.items():
        if name in FIXED_INPUTS or not _IO_NAME.match(name) or name.lower() in RESERVED_IO_NAMES:
            continue
        inputs[name] = ComponentInput(
            type="string", optional=True, default=mapping_defaults.get(name),
            description=f"column mapping of flow input '{name}' ({spec.type}): "
                        "${data.<column>}, ${run.outputs.<name>} or a literal")
        mapped.append(name)
    unknown = sorted(set(mapping_defaults) - set(mapped))
    if unknown:
        raise SpecError(f"column_mapping names {', '.join(unknown)}, which the flow does not "
                        f"take (inputs: {', '.join(flow.inputs) or 'none'})", file=str(path),
                        key="column_mapping")
    env_vars = _str_map(run.get("environment_variables"), path, "environment_variables")
    cfg = BatchConfig(variant=variant, environment_variables=env_vars)
    code = _staged.enter_context(staged_flow(flow))
    return Component(
        name=_component_name(flow.folder.name),
        command=_command(flow, cfg, mapped),
        display_name=flow.name,
        description=flow.description,
        tags=dict(flow.tags),
        code=str(code),
        environment=None,   # the server's Python, as for a flow run (promptflow is Ember's)
        inputs=inputs,
        outputs={FLOW_OUTPUTS: ComponentOutput(type="uri_folder",
                                               description="output.jsonl: line_number and "
                                                           "the flow's outputs per line"),
                 DEBUG_INFO: ComponentOutput(type="uri_folder",
                                             description="details.jsonl, output.jsonl, "
                                                         "metrics.json, summary.json")},
    )


def _command(flow: Flow, cfg: BatchConfig, mapped: list[str]) -> str:
    """``python -m ember.flows.batch`` over the step's inputs; then ``output.jsonl`` alone
    into ``flow_outputs`` (so it is the next step's data file)."""
    parts = [f"python -m ember.flows.batch --config {cfg.encode()}",
             "--data ${{inputs.%s}}" % DATA,
             "$[[--base-run ${{inputs.%s}}]]" % RUN_OUTPUTS,
             "$[[--connections=%s]]" % _heredoc(CONNECTIONS)]
    parts += ["$[[--map %s=%s]]" % (name, _heredoc(name)) for name in mapped]
    parts.append("--output ${{outputs.%s}}" % DEBUG_INFO)
    command = (" ".join(parts) + ' && cp "${{outputs.%s}}/output.jsonl" '
               '"${{outputs.%s}}/output.jsonl"' % (DEBUG_INFO, FLOW_OUTPUTS))
    return with_requirements(flow, command)


def _heredoc(name: str) -> str:
    """The input's value as one shell word, taken literally: Ember inserts values into a
    command raw, and a mapping value is ``${data.x}`` (which bash would expand) or any text."""
    return f"\"$(cat <<'{_EOF}'\n${{{{inputs.{name}}}}}\n{_EOF}\n)\""


def _str_map(value: Any, path: Path, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{key}: must be a mapping", file=str(path), key=key)
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _component_name(folder: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", folder.lower()).strip("_") or "flow"
    return name if name[:1].isalpha() else f"flow_{name}"


class FlowComponentFunc(ComponentFunc):
    """A flow loaded as a component. Called as Azure's flow component is: ``data=``, the
    column mapping by flow input name (``text="${data.text}"``), ``connections={node:
    {connection: x, deployment_name: y}}`` (or Azure's flattened
    ``**{"connections.node.connection": "x"}``); a non-string literal mapping value is passed
    as its JSON text (the flow converts it to the input's type)."""

    def __call__(self, *args: Any, **inputs: Any) -> Any:
        folded: dict[str, dict[str, Any]] = {}
        given: dict[str, Any] = {}
        for port, value in inputs.items():
            if port.startswith(CONNECTIONS + "."):
                parts = port.split(".")
                if len(parts) != 3 or not all(parts):
                    raise ArgumentError(f"component '{self.name}': a connection input is "
                                        f"connections.<node>.<key>, not '{port}'")
                folded.setdefault(parts[1], {})[parts[2]] = value
            elif port == CONNECTIONS and isinstance(value, dict):
                for node, keys in value.items():
                    if not isinstance(keys, dict):
                        raise InvalidInputError(
                            f"component '{self.name}': connections['{node}'] must be a dict "
                            "{'connection': <name>, 'deployment_name': ...}")
                    folded.setdefault(str(node), {}).update(keys)
            elif (port in self.component.inputs and port not in (DATA, RUN_OUTPUTS)
                  and isinstance(value, (int, float, bool, list, dict))):
                given[port] = json.dumps(value)
            else:
                given[port] = value
        if folded:
            given[CONNECTIONS] = json.dumps(folded, sort_keys=True)
        return super().__call__(*args, **given)


def load_flow_component(source: str | Path) -> FlowComponentFunc:
    """``load_component`` for a flow: the component function of :func:`flow_component`."""
    return FlowComponentFunc(flow_component(source))
