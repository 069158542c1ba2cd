"""``ember pf ...``: promptflow's ``pf`` command line, prefixed. A promptflow user replaces ``pf``
with ``ember pf`` and keeps every argument.

argparse, not Typer, on purpose: ``pf`` takes several values after one flag (``--inputs a=1
b=2``, ``--column-mapping x='${data.x}' y=...``), which click cannot parse; and ``ember pf flow
test`` should start in a blink, so this module imports nothing heavy before it needs it (the
entry point ``ember.cli.entry`` sends ``pf`` here without loading the rest of the CLI).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ember.errors import EmberError, InvalidInputError


def _pairs(values: list[str] | None, what: str) -> dict[str, Any]:
    """``k=v`` pairs; a value that parses as JSON (a list, an object, a number) is that."""
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{what} {item!r}: write key=value")
        out[key] = value
    return out


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        try:
            out[key] = json.loads(value) if value[:1] in "[{" else value
        except (ValueError, TypeError):
            out[key] = value
    return out


def _connections(values: list[str] | None) -> dict[str, dict[str, Any]]:
    """``node.connection=x node.deployment_name=y`` → ``{node: {connection: x, ...}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in _pairs(values, "--connections").items():
        node, dot, field = key.partition(".")
        if not dot or not field:
            raise InvalidInputError(f"--connections {key}={value}: write node.field=value, "
                                    "e.g. chat.connection=my_conn")
        out.setdefault(node, {})[field] = value
    return out


def _print(value: Any) -> None:
    print(json.dumps(value, indent=4, ensure_ascii=False, default=str))


def _endpoint(args: argparse.Namespace) -> tuple[str, str]:
    from ember.client import local

    url = args.endpoint or os.environ.get("EMBER_ENDPOINT") or local.ensure_server()
    return url, args.workspace or os.environ.get("EMBER_WORKSPACE") or "default"


def _client(args: argparse.Namespace) -> Any:
    from ember.client.mlclient import MLClient

    return MLClient(endpoint=args.endpoint, workspace=args.workspace)


# ---- flow ---------------------------------------------------------------------------------

def flow_test(args: argparse.Namespace) -> int:
    from ember.client.flows import LazyConnections, export_spans, test_flow
    from ember.flows.trace import Tracer

    tracer = Tracer()
    inputs = _typed(_pairs(args.inputs, "--inputs"))
    outputs = test_flow(args.flow, inputs=inputs, variant=args.variant, node=args.node,
                        environment_variables=_pairs(args.environment_variables,
                                                     "--environment-variables"),
                        connections=LazyConnections(lambda: _endpoint(args)),
                        overrides=_connections(args.connections), tracer=tracer)
    _print(outputs)
    sys.stdout.flush()
    if not args.no_trace:
        endpoint = args.endpoint or os.environ.get("EMBER_ENDPOINT")
        export_spans(tracer.take(), endpoint=endpoint,
                     workspace=args.workspace or os.environ.get("EMBER_WORKSPACE") or "default",
                     detach=True)
    return 0


def flow_validate(args: argparse.Namespace) -> int:
    from ember.flows.loader import validate_flow

    flow = validate_flow(Path(args.source))
    result = {"result": "Succeeded", "flow": str(flow.path),
              "nodes": [n.name for n in flow.nodes]}
    _print(result)
    return 0


def flow_init(args: argparse.Namespace) -> int:
    from ember.flows.templates import init_flow

    made = init_flow(Path(args.flow), kind=args.type, overwrite=args.yes)
    _print({"flow": str(Path(args.flow).resolve()), "files": [str(p) for p in made]})
    return 0


def flow_build(args: argparse.Namespace) -> int:
    from ember.flows.build import build_docker, used_connections
    from ember.flows.loader import load_flow

    if args.format != "docker":
        raise InvalidInputError(f"--format {args.format}: Ember builds docker folders; a "
                                "single executable is not supported")
    flow = load_flow(Path(args.source), variant=args.variant)
    shown: dict[str, dict[str, Any]] = {}
    secrets: dict[str, list[str]] = {}
    names = used_connections(flow)
    if names:
        client = _client(args)
        for name in names:
            conn = client.connections.get(name)
            shown[name] = conn.flat()
            secrets[name] = sorted(conn.secrets)
    written = build_docker(flow, Path(args.output), shown, secrets)
    _print({"output": str(Path(args.output).resolve()), "connections": names,
            "files": [str(p) for p in written]})
    return 0


def flow_serve(args: argparse.Namespace) -> int:
    from ember.serving.flow.worker import serve_flow

    env = _pairs(args.environment_variables, "--environment-variables")
    if args.connections_dir:
        from ember.flows.build import FileConnections

        connections: Any = FileConnections(Path(args.connections_dir))
    else:
        from ember.client.flows import LazyConnections

        connections = LazyConnections(lambda: _endpoint(args))
    serve_flow(Path(args.source), host=args.host, port=args.port, environment_variables=env,
               connections=connections, variant=args.variant)
    return 0


# ---- run ----------------------------------------------------------------------------------

def _run_from_file(path: str) -> dict[str, Any]:
    from ember.specs.yamlio import load_yaml_text

    text = Path(path).read_text(encoding="utf-8")
    doc = load_yaml_text(text, path) or {}
    allowed = {"$schema", "flow", "data", "run", "column_mapping", "variant", "connections",
               "environment_variables", "name", "display_name", "description", "tags"}
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InvalidInputError(f"{path}: unknown key {unknown[0]!r} (known: "
                                f"{', '.join(sorted(allowed - {'$schema'}))})")
    base = Path(path).parent
    out = {k: v for k, v in doc.items() if k != "$schema"}
    for key in ("flow", "data"):
        if out.get(key) and not str(out[key]).startswith("azureml:"):
            out[key] = str(base / str(out[key]))
    return out


def run_create(args: argparse.Namespace) -> int:
    from ember.entities.flow_runs import Run

    spec: dict[str, Any] = _run_from_file(args.file) if args.file else {}
    for key in ("flow", "data", "run", "variant", "name", "display_name", "description"):
        value = getattr(args, key)
        if value is not None:
            spec[key] = value
    if args.column_mapping:
        spec["column_mapping"] = {**spec.get("column_mapping", {}),
                                  **_pairs(args.column_mapping, "--column-mapping")}
    if args.connections:
        spec["connections"] = {**spec.get("connections", {}), **_connections(args.connections)}
    if args.environment_variables:
        spec["environment_variables"] = {
            **spec.get("environment_variables", {}),
            **_pairs(args.environment_variables, "--environment-variables")}
    if args.tags:
        spec["tags"] = {**spec.get("tags", {}), **_pairs(args.tags, "--tags")}
    client = _client(args)
    run = client.flow_runs.create_or_update(Run(**spec))
    if args.stream:
        run = client.flow_runs.stream(run.name)
    _print(_run_view(run))
    return 0 if run.status not in ("Failed", "Canceled") else 1


def _run_view(run: Any) -> dict[str, Any]:
    from datetime import datetime, timezone

    def when(t: float | None) -> str | None:
        return datetime.fromtimestamp(t, timezone.utc).isoformat() if t else None

    view = {"name": run.name, "created_on": when(run.created_on), "status": run.status,
            "display_name": run.display_name, "description": run.description or None,
            "tags": run.tags or None, "flow_name": Path(run.flow).name, "flow": run.flow,
            "data": run.data or None, "run": run.run, "variant": run.variant,
            "column_mapping": run.column_mapping or None, "end_time": when(run.end_time)}
    if run.error:
        view["error"] = run.error
    return {k: v for k, v in view.items() if v is not None}


def run_show(args: argparse.Namespace) -> int:
    _print(_run_view(_client(args).flow_runs.get(args.name)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    runs = _client(args).flow_runs.list(max_results=args.max_results,
                                        include_archived=args.include_archived,
                                        archived_only=args.archived_only)
    _print([_run_view(r) for r in runs])
    return 0


def run_update(args: argparse.Namespace) -> int:
    from ember.client.jobs import changes_from_set

    runs = _client(args).flow_runs
    current = runs.get(args.name)
    changes = changes_from_set(args.set, current.tags)
    _print(_run_view(runs.update(args.name, **changes) if changes else current))
    return 0


def run_archive(args: argparse.Namespace) -> int:
    _print(_run_view(_client(args).flow_runs.archive(args.name)))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    _print(_run_view(_client(args).flow_runs.restore(args.name)))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInputError(f"deleting run {args.name!r} cannot be undone: pass "
                                    "--yes to confirm")
        answer = input(f"Are you sure to delete run {args.name!r} irreversibly? (y/n): ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Not deleted.", file=sys.stderr)
            return 1
    _client(args).flow_runs.delete(args.name)
    print(f"Deleted run {args.name!r}.", file=sys.stderr)
    return 0


def run_stream(args: argparse.Namespace) -> int:
    run = _client(args).flow_runs.stream(args.name)
    _print(_run_view(run))
    return 0 if run.status == "Completed" else 1


def run_show_details(args: argparse.Namespace) -> int:
    from ember.client.flow_runs import details_rows

    details = _client(args).flow_runs.details(args.name)
    rows = details_rows(details, max_results=None if args.all_results else args.max_results)
    if args.output == "json":
        _print(rows)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    table.add_column("")
    for col in columns:
        table.add_column(col, overflow="fold")
    for i, row in enumerate(rows):
        table.add_row(str(i), *(_cell(row.get(c)) for c in columns))
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def run_show_metrics(args: argparse.Namespace) -> int:
    _print(_client(args).flow_runs.metrics(args.name))
    return 0


def run_visualize(args: argparse.Namespace) -> int:
    from ember.client.flow_visualize import write_html

    names = [n for part in args.names for n in part.split(",") if n]
    path = write_html(_client(args).flow_runs, names, Path(args.html_path) if args.html_path
                      else None)
    print(f"The HTML file is written to {path}")
    return 0


# ---- parser -------------------------------------------------------------------------------

def _common(p: argparse.ArgumentParser, output: bool = True) -> None:
    p.add_argument("--endpoint", default=None, help="the Ember server (default: the local one)")
    p.add_argument("--workspace", "-w", default=None)
    if output:   # `flow build --output` is a folder, as in pf
        p.add_argument("--output", "-o", default="json", choices=("json", "table"))


def build_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ember pf", description=(
        "promptflow's pf commands on Ember: `pf <args>` is `ember pf <args>`."))
    nouns = root.add_subparsers(dest="noun", required=True)

    flow = nouns.add_parser("flow", help="init, test, validate a flow").add_subparsers(
        dest="verb", required=True)
    p = flow.add_parser("test", help="run the flow (or one node) on one input, here")
    p.add_argument("--flow", required=True)
    p.add_argument("--inputs", nargs="+", default=None)
    p.add_argument("--variant", default=None)
    p.add_argument("--node", default=None)
    p.add_argument("--environment-variables", nargs="+", default=None)
    p.add_argument("--connections", nargs="+", default=None)
    p.add_argument("--no-trace", action="store_true",
                   help="don't record the test's spans as an MLflow trace")
    _common(p)
    p.set_defaults(func=flow_test)
    p = flow.add_parser("validate", help="check flow.dag.yaml and its sources")
    p.add_argument("--source", "--flow", dest="source", required=True)
    _common(p)
    p.set_defaults(func=flow_validate)
    p = flow.add_parser("init", help="write a new flow folder")
    p.add_argument("--flow", required=True)
    p.add_argument("--type", default="standard", choices=("standard", "chat", "evaluation"))
    p.add_argument("--yes", "-y", action="store_true", help="overwrite existing files")
    _common(p)
    p.set_defaults(func=flow_init)
    p = flow.add_parser("build", help="a folder (Dockerfile, flow, connections) that serves "
                        "the flow")
    p.add_argument("--source", "--flow", dest="source", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--format", default="docker", choices=("docker", "executable"))
    p.add_argument("--variant", default=None)
    _common(p, output=False)
    p.set_defaults(func=flow_build)
    p = flow.add_parser("serve", help="answer POST /score with the flow, here")
    p.add_argument("--source", "--flow", dest="source", required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to bind (loopback unless told otherwise)")
    p.add_argument("--variant", default=None)
    p.add_argument("--environment-variables", nargs="+", default=None)
    p.add_argument("--connections-dir", default=None,
                   help="connection files (a `flow build` output's connections/) instead of "
                        "the workspace's")
    p.add_argument("--engine", default=None, help="accepted for pf's flask|fastapi; ignored")
    p.add_argument("--skip-open-browser", action="store_true", help="accepted; no browser "
                   "is opened")
    _common(p)
    p.set_defaults(func=flow_serve)

    run = nouns.add_parser("run", help="batch and evaluation runs").add_subparsers(
        dest="verb", required=True)
    p = run.add_parser("create", help="run a flow over a data file (a job)")
    p.add_argument("--file", "-f", default=None, help="run.yml")
    p.add_argument("--flow", default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--run", default=None, help="the base run of an evaluation run")
    p.add_argument("--column-mapping", nargs="+", default=None)
    p.add_argument("--variant", default=None)
    p.add_argument("--connections", nargs="+", default=None)
    p.add_argument("--environment-variables", nargs="+", default=None)
    p.add_argument("--name", "-n", default=None)
    p.add_argument("--display-name", default=None)
    p.add_argument("--description", default=None)
    p.add_argument("--tags", nargs="+", default=None)
    p.add_argument("--stream", "-s", action="store_true")
    _common(p)
    p.set_defaults(func=run_create)
    for verb, func, helptext in (("show", run_show, "the run"),
                                 ("stream", run_stream, "follow the run's log to its end"),
                                 ("show-metrics", run_show_metrics, "the run's metrics")):
        p = run.add_parser(verb, help=helptext)
        p.add_argument("--name", "-n", required=True)
        _common(p)
        p.set_defaults(func=func)
    p = run.add_parser("show-details", help="per-line inputs and outputs")
    p.add_argument("--name", "-n", required=True)
    p.add_argument("--max-results", "-r", type=int, default=100)
    p.add_argument("--all-results", action="store_true")
    _common(p)
    p.set_defaults(func=run_show_details, output="table")
    p = run.add_parser("list", help="flow runs")
    p.add_argument("--max-results", "-r", type=int, default=50)
    p.add_argument("--all-results", action="store_true")
    p.add_argument("--include-archived", action="store_true", help="archived runs too")
    p.add_argument("--archived-only", action="store_true", help="archived runs only")
    _common(p)
    p.set_defaults(func=run_list)
    p = run.add_parser("update", help="change a run's display_name, description or tags")
    p.add_argument("--name", "-n", required=True)
    p.add_argument("--set", nargs="+", required=True,
                   help="display_name=... description=... tags.<key>=...")
    _common(p)
    p.set_defaults(func=run_update)
    for verb, func, helptext in (("archive", run_archive, "hide the run from `run list`"),
                                 ("restore", run_restore, "list an archived run again")):
        p = run.add_parser(verb, help=helptext)
        p.add_argument("--name", "-n", required=True)
        _common(p)
        p.set_defaults(func=func)
    p = run.add_parser("delete", help="delete an ended run (its files stay)")
    p.add_argument("--name", "-n", required=True)
    p.add_argument("--yes", "-y", action="store_true", help="don't ask for confirmation")
    _common(p)
    p.set_defaults(func=run_delete)
    p = run.add_parser("visualize", help="an HTML page comparing runs")
    p.add_argument("--names", "-n", nargs="+", required=True)
    p.add_argument("--html-path", default=None)
    _common(p)
    p.set_defaults(func=run_visualize)
    return root


def main(argv: list[str]) -> int:
    if argv[:1] == ["connection"]:
        # The connection commands are ember's own (`ember connection`), under pf's name too.
        from ember.cli.main import main as ember_main

        sys.argv = ["ember", "connection", *argv[1:]]
        ember_main()
        return 0
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except EmberError as exc:
        if os.environ.get("EMBER_DEBUG"):
            raise
        print(f"Error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
