"""A flow run's two links to the workspace server: connections (``listsecrets``) and traces
(OTLP JSON to ``<tracking uri>/v1/traces``). A plain standard-library client
(``flows/_http.py``), so a job's process needs no SDK and pays no import for it."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from ember.errors import InvalidInputError, NotFoundError, ServerUnavailableError
from ember.flows._http import Http, HttpError
from ember.flows.connections import ConnectionProvider
from ember.flows.trace import Span, to_otlp_request

log = logging.getLogger(__name__)
CONNECTIONS_ENV = "EMBER_CONNECTIONS"   # engine/flow_secrets.ENV


class HttpConnectionProvider:
    """Connections from the server, fetched once per name per run."""

    def __init__(self, base_url: str, workspace: str, *, timeout: float = 30.0,
                 headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.workspace = workspace
        self._client = Http(self.base_url, timeout=timeout, headers=headers)
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name in self._cache:
                return dict(self._cache[name])
        quoted = urllib.parse.quote(name, safe="")
        url = f"{self.base_url}/api/v1/workspaces/{self.workspace}/connections/{quoted}/listsecrets"
        try:
            resp = self._client.post(url)
        except HttpError as exc:
            raise ServerUnavailableError(f"cannot reach the Ember server at {self.base_url} "
                                         f"for connection {name!r}: {exc}") from None
        if resp.status_code == 404:
            raise NotFoundError(f"connection {name!r} not found in workspace "
                                f"{self.workspace!r}; create it with `ember connection create "
                                "-f <file>`")
        if resp.status_code >= 400:
            raise InvalidInputError(f"connection {name!r}: the server answered "
                                    f"{resp.status_code}")
        plain = resp.json()
        with self._lock:
            self._cache[name] = plain
        return dict(plain)


def tracking_base(tracking_uri: str) -> tuple[str, str]:
    """(server URL, workspace) of a workspace tracking URI ``http://h:p[/workspaces/<ws>]``."""
    parsed = urllib.parse.urlsplit(tracking_uri.rstrip("/"))
    parts = parsed.path.split("/")
    workspace = "default"
    path = parsed.path
    if len(parts) >= 3 and parts[-2] == "workspaces":
        workspace = parts[-1]
        path = "/".join(parts[:-2])
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", "")), workspace


class TraceExporter:
    """Sends finished spans to the workspace's MLflow trace route. A server that does not take
    traces (an older Ember) is reported once, and the run goes on: traces are a record, not
    the run's result."""

    def __init__(self, tracking_uri: str, experiment_id: str, run_id: str | None = None,
                 *, timeout: float = 30.0) -> None:
        self.url = tracking_uri.rstrip("/") + "/v1/traces"
        headers = {"x-mlflow-experiment-id": experiment_id, "content-type": "application/json"}
        if run_id:
            headers["x-mlflow-run-id"] = run_id
        self._client = Http(self.url, timeout=timeout, headers=headers)
        self.failed: str | None = None

    def export(self, spans: list[Span]) -> bool:
        if not spans or self.failed:
            return False
        try:
            resp = self._client.post(self.url, json_body=to_otlp_request(spans))
        except HttpError as exc:
            self.failed = f"cannot reach {self.url}: {exc}"
        else:
            if resp.status_code < 400:
                return True
            self.failed = f"{self.url} answered {resp.status_code}: {resp.text[:200]}"
        log.warning("traces are not recorded: %s", self.failed)
        return False

    def close(self) -> None:
        self._client.close()


class BackgroundExport:
    """Spans handed over as lines finish, sent by one thread in batches (up to ``batch``
    spans a request): a batch run of 1,000 short lines must not wait for 1,000 requests."""

    def __init__(self, export: Callable[[list[Span]], Any], batch: int = 2000) -> None:
        self._export = export
        self._batch = batch
        self._queue: queue.Queue[list[Span] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ember-trace-export",
                                        daemon=True)
        self._thread.start()

    def __call__(self, spans: list[Span]) -> None:
        if spans:
            self._queue.put(spans)

    def _run(self) -> None:
        done = False
        while not done:
            item = self._queue.get()
            pending: list[Span] = []
            while True:
                if item is None:
                    done = True
                    break
                pending.extend(item)
                if len(pending) >= self._batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if pending:
                try:
                    self._export(pending)
                except Exception as exc:  # a record, not the run's result: say it, go on
                    log.warning("traces are not recorded: %s", exc)

    def close(self, timeout: float = 120.0) -> None:
        """Send what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)


def from_job_environment() -> tuple[ConnectionProvider, TraceExporter | None]:
    """Inside a job: the connections the server handed over (``EMBER_CONNECTIONS``, taken out
    of the environment here, before any tool runs: ``engine/flow_secrets.py``), else the
    server's ``listsecrets``; the trace exporter of the run the runner's environment names."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        raise InvalidInputError("a flow run inside a job needs MLFLOW_TRACKING_URI pointing at "
                                "the Ember server")
    base, workspace = tracking_base(uri)
    workspace = os.environ.get("AZUREML_ARM_WORKSPACE_NAME", workspace)
    exporter = None
    experiment = os.environ.get("MLFLOW_EXPERIMENT_ID")
    if experiment:
        exporter = TraceExporter(uri, experiment, os.environ.get("MLFLOW_RUN_ID"))
    handed = os.environ.pop(CONNECTIONS_ENV, None)
    if handed is not None:
        return _handed(handed), exporter
    return HttpConnectionProvider(base, workspace), exporter


def _handed(text: str) -> ConnectionProvider:
    try:
        plains = json.loads(text)
    except ValueError:
        raise InvalidInputError(f"{CONNECTIONS_ENV} is not JSON") from None
    if not isinstance(plains, dict):
        raise InvalidInputError(f"{CONNECTIONS_ENV} is not a JSON object")
    return _HandedConnections({str(k): v for k, v in plains.items() if isinstance(v, dict)})


class _HandedConnections:
    """The connections the server handed to this job; any other is not found, saying so."""

    def __init__(self, plains: dict[str, dict[str, Any]]) -> None:
        self._plains = plains

    def get(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._plains[name])
        except KeyError:
            raise NotFoundError(
                f"connection {name!r} was not handed to this job: it is not in the workspace, "
                "or the flow does not name it (the server hands a flow job the connections its "
                "flow and its connection overrides name)") from None
