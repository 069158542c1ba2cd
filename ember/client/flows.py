"""Flows on the caller's machine: ``flow test`` (one line, in this process, like ``pf flow
test``), ``flow validate``. Connections come from the workspace server only when a node needs
one, so a Python-only flow runs without starting a server; the test's spans go to the server's
MLflow traces when one is running, else a detached process starts it and hands them over
(``python -m ember.client.flows --export FILE``), so ``flow test`` never waits for a server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ember.errors import UserCodeError
from ember.flows.dag import Flow
from ember.flows.loader import load_flow
from ember.flows.remote import HttpConnectionProvider, TraceExporter
from ember.flows.trace import Span, Tracer

FLOW_TEST_EXPERIMENT = "prompt-flow-tests"


class LazyConnections:
    """A ConnectionProvider that opens the server only on the first ``get``."""

    def __init__(self, endpoint: Callable[[], tuple[str, str]]) -> None:
        self._endpoint = endpoint
        self._provider: HttpConnectionProvider | None = None

    def get(self, name: str) -> dict[str, Any]:
        if self._provider is None:
            url, workspace = self._endpoint()
            self._provider = HttpConnectionProvider(url, workspace)
        return self._provider.get(name)


def _overrides(connections: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {node: dict(values) for node, values in (connections or {}).items()}


async def _test(flow: Flow, inputs: dict[str, Any], node: str | None, connections: Any,
                tracer: Tracer, overrides: dict[str, dict[str, Any]], stream: bool,
                environment_variables: dict[str, str]) -> dict[str, Any]:
    from ember.flows.executor import FlowExecutor

    executor = FlowExecutor(flow, connections, tracer=tracer, stream=stream,
                            overrides=overrides, environment_variables=environment_variables)
    try:
        return await _run(executor, inputs, node)
    finally:
        llm = sys.modules.get("ember.flows.llm")
        if llm is not None:   # its client pools belong to this event loop, about to close
            await llm.close_clients()


async def _run(executor: Any, inputs: dict[str, Any], node: str | None) -> dict[str, Any]:
    if node:
        output = await executor.run_node(node, inputs)
        return {"output": output} if not isinstance(output, dict) else output
    line = await executor.run_line(inputs)
    if line.status != "Completed":
        raise UserCodeError((line.error or {}).get("message") or "the flow failed",
                            details={"error": line.error})
    aggregation = await executor.run_aggregation([line])
    if aggregation.status != "Completed":
        raise UserCodeError((aggregation.error or {}).get("message")
                            or "an aggregation node failed",
                            details={"error": aggregation.error})
    return dict(line.outputs)


def test_flow(flow: str | os.PathLike[str], *, inputs: Mapping[str, Any] | None = None,
              variant: str | None = None, node: str | None = None,
              environment_variables: Mapping[str, str] | None = None,
              connections: Any, overrides: Mapping[str, Mapping[str, Any]] | None = None,
              tracer: Tracer | None = None, stream: bool = False) -> dict[str, Any]:
    """Run one line of the flow here and return its outputs (aggregation nodes run over that
    line, as ``pf flow test`` does). ``node`` runs that one node with ``inputs`` as its inputs.
    Raises UserCodeError naming the node that failed."""
    loaded = load_flow(Path(flow), variant=variant)
    return asyncio.run(_test(loaded, dict(inputs or {}), node, connections,
                             tracer or Tracer(), _overrides(overrides), stream,
                             dict(environment_variables or {})))


def export_spans(spans: list[Span], *, endpoint: str | None, workspace: str,
                 home: Path | None = None, detach: bool = False) -> str:
    """Hand a test's spans to the server's MLflow traces: inline when a server is known to be
    up, else through a detached process that starts the local one. With ``detach`` (the CLI,
    whose answer is already printed) a forked child does it and this process goes on at once.
    Returns what happened."""
    if not spans:
        return "no spans"
    if detach and hasattr(os, "fork"):
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork():
            return "handed to a background process"
        _child(lambda: _export_now(spans, endpoint or _local_server(home), workspace))
    if endpoint:
        return _export_now(spans, endpoint, workspace)
    from ember.client import local

    st = local.status(home)
    if st["running"]:
        return _export_now(spans, str(st["url"]), workspace)
    fd, path = tempfile.mkstemp(prefix="ember-trace-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"workspace": workspace, "home": str(home) if home else None,
                   "spans": [s.__dict__ for s in spans]}, fh, default=repr)
    subprocess.Popen([sys.executable, "-m", "ember.client.flows", "--export", path],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    return "handed to a background process"


def _child(work: Callable[[], object]) -> None:
    """In a forked child: leave the parent's session and its terminal (so the caller's pipe
    closes when the parent exits), do ``work``, and exit without the parent's exit handlers."""
    code = 0
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        work()
    except BaseException:  # nobody is left to tell; the trace is a record, not the result
        code = 1
    finally:
        os._exit(code)


def _experiment_id(endpoint: str, workspace: str) -> str:
    import httpx

    from ember.credentials import auth_headers

    base = endpoint.rstrip("/") + (f"/workspaces/{workspace}" if workspace != "default" else "")
    api = base + "/api/2.0/mlflow/experiments"
    auth = auth_headers(endpoint)
    got = httpx.get(api + "/get-by-name", params={"experiment_name": FLOW_TEST_EXPERIMENT},
                    timeout=30, headers=auth)
    if got.status_code == 200:
        return str(got.json()["experiment"]["experiment_id"])
    made = httpx.post(api + "/create", json={"name": FLOW_TEST_EXPERIMENT}, timeout=30,
                      headers=auth)
    if made.status_code >= 400:  # created concurrently by another test
        got = httpx.get(api + "/get-by-name",
                        params={"experiment_name": FLOW_TEST_EXPERIMENT}, timeout=30,
                        headers=auth)
        got.raise_for_status()
        return str(got.json()["experiment"]["experiment_id"])
    return str(made.json()["experiment_id"])


def _export_now(spans: list[Span], endpoint: str, workspace: str) -> str:
    base = endpoint.rstrip("/") + (f"/workspaces/{workspace}" if workspace != "default" else "")
    exporter = TraceExporter(base, _experiment_id(endpoint, workspace))
    try:
        ok = exporter.export(spans)
    finally:
        exporter.close()
    return "recorded" if ok else f"not recorded: {exporter.failed}"


def _local_server(home: Path | None) -> str:
    from ember.client import local

    return local.ensure_server(home)


def _export_file(path: Path) -> None:
    from ember.client import local

    data = json.loads(path.read_text())
    path.unlink(missing_ok=True)
    home = Path(data["home"]) if data.get("home") else None
    url = local.ensure_server(home)
    spans = [Span(**s) for s in data["spans"]]
    _export_now(spans, url, data["workspace"])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--export":
        _export_file(Path(sys.argv[2]))


class FlowOperations:
    """``client.flows``: test and validate flows with this client's workspace (its
    connections, its traces)."""

    def __init__(self, endpoint: str, workspace: str) -> None:
        self._endpoint = endpoint
        self._workspace = workspace

    def test(self, flow: str | os.PathLike[str], *, inputs: Mapping[str, Any] | None = None,
             variant: str | None = None, node: str | None = None,
             environment_variables: Mapping[str, str] | None = None,
             connections: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """Run one line of the flow in this process (see :func:`test_flow`); its spans are
        recorded as an MLflow trace in the workspace's ``prompt-flow-tests`` experiment."""
        tracer = Tracer()
        try:
            return test_flow(flow, inputs=inputs, variant=variant, node=node,
                             environment_variables=environment_variables,
                             connections=HttpConnectionProvider(self._endpoint,
                                                                self._workspace),
                             overrides=connections, tracer=tracer)
        finally:
            export_spans(tracer.take(), endpoint=self._endpoint, workspace=self._workspace)

    def validate(self, flow: str | os.PathLike[str], *, variant: str | None = None) -> Flow:
        """The flow, loaded and checked (its python tools imported). Raises SpecError naming
        file, line and key."""
        from ember.flows.loader import validate_flow

        return validate_flow(Path(flow), variant)
