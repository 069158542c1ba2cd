"""``PFClient``, promptflow's SDK entry point, on Ember: ``from ember.pf import PFClient`` where
promptflow code has ``from promptflow.client import PFClient``; the methods and their arguments
are promptflow's (``test``, ``run``, ``stream``, ``get_details``, ``get_metrics``,
``visualize``, ``runs``, ``connections``).

Flow tests run in this process. Batch runs are Ember jobs on the workspace server (the embedded
local one unless ``endpoint`` or ``EMBER_ENDPOINT`` says otherwise); ``run`` waits for the run to
end, as promptflow's does.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.client.flow_runs import details_rows
from ember.client.flows import LazyConnections, export_spans, test_flow
from ember.entities.flow_runs import Run
from ember.errors import UnsupportedError
from ember.flows.trace import Tracer

__all__ = ["PFClient", "Run"]

_ENDED = ("Completed", "Failed", "Canceled")


class PFClient:
    def __init__(self, *, endpoint: str | None = None, workspace: str | None = None,
                 **kwargs: Any) -> None:
        """``endpoint``/``workspace``: the Ember server (default: ``EMBER_ENDPOINT``, else the
        local one, started on first need). promptflow's ``config`` and ``connection_provider``
        are accepted: connections always come from the workspace."""
        unknown = set(kwargs) - {"config", "connection_provider", "credential"}
        if unknown:
            raise TypeError(f"PFClient() got unexpected arguments: {', '.join(sorted(unknown))}")
        self._endpoint = endpoint or os.environ.get("EMBER_ENDPOINT")
        self._workspace = workspace or os.environ.get("EMBER_WORKSPACE") or "default"
        self._client: Any = None

    @property
    def ml_client(self) -> Any:
        if self._client is None:
            from ember.client.mlclient import MLClient

            self._client = MLClient(endpoint=self._endpoint, workspace=self._workspace)
            self._endpoint = self._client.endpoint
        return self._client

    @property
    def runs(self) -> Any:
        return self.ml_client.flow_runs

    @property
    def connections(self) -> Any:
        return self.ml_client.connections

    def _where(self) -> tuple[str, str]:
        return self.ml_client.endpoint, self._workspace

    def test(self, flow: str | os.PathLike[str], *, inputs: Mapping[str, Any] | None = None,
             variant: str | None = None, node: str | None = None,
             environment_variables: Mapping[str, str] | None = None,
             init: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run the flow (or one node) on one input here; returns its outputs."""
        if init:
            raise UnsupportedError("init= is for flex flows; Ember runs flow.dag.yaml flows")
        tracer = Tracer()
        outputs = test_flow(flow, inputs=inputs, variant=variant, node=node,
                            environment_variables=environment_variables,
                            connections=LazyConnections(self._where), tracer=tracer)
        export_spans(tracer.take(), endpoint=self._endpoint, workspace=self._workspace)
        return outputs

    def run(self, flow: str | os.PathLike[str] | None = None, *, data: str | None = None,
            run: str | Run | None = None, column_mapping: Mapping[str, Any] | None = None,
            variant: str | None = None,
            connections: Mapping[str, Mapping[str, Any]] | None = None,
            environment_variables: Mapping[str, str] | None = None, name: str | None = None,
            display_name: str | None = None, tags: Mapping[str, str] | None = None,
            resume_from: str | None = None, code: str | None = None,
            init: Mapping[str, Any] | None = None, stream: bool = False,
            **kwargs: Any) -> Run:
        """Submit a batch run and wait for it to end; returns the ended run (a failed line
        does not fail the run; read them with ``get_details``)."""
        for given, what in ((resume_from, "resume_from"), (code, "code"), (init, "init")):
            if given:
                raise UnsupportedError(f"PFClient.run({what}=...) is not supported by Ember")
        if isinstance(flow, Run):   # pf.run(run_object)
            spec = flow
        else:
            base = run.name if isinstance(run, Run) else run
            spec = Run(flow=str(flow or ""), data=str(data) if data else None, run=base,
                       column_mapping=dict(column_mapping or {}), variant=variant,
                       connections={k: dict(v) for k, v in (connections or {}).items()},
                       environment_variables=dict(environment_variables or {}), name=name,
                       display_name=display_name, tags=dict(tags or {}))
        created = self.runs.create_or_update(spec)
        return self.stream(created) if stream else self._wait(created.name or "")

    def _wait(self, name: str) -> Run:
        delay = 0.05
        while True:
            current = self.runs.get(name)
            if current.status in _ENDED:
                return current
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def stream(self, run: str | Run, raise_on_error: bool = True) -> Run:
        name = run.name if isinstance(run, Run) else run
        ended = self.runs.stream(name or "", sys.stdout)
        if raise_on_error and ended.status == "Failed":
            from ember.errors import UserCodeError

            raise UserCodeError(f"flow run {name} failed: {ended.error}")
        return ended

    def get_details(self, run: str | Run, max_results: int = 100,
                    all_results: bool = False) -> Any:
        """Per-line ``inputs.*`` / ``outputs.*`` as a pandas DataFrame, as promptflow returns."""
        name = run.name if isinstance(run, Run) else run
        rows = details_rows(self.runs.details(name), max_results=None if all_results
                            else max_results)
        try:
            import pandas
        except ImportError:
            raise UnsupportedError("get_details returns a pandas DataFrame: pip install "
                                   "pandas (or read client.flow_runs.details(name))") from None
        return pandas.DataFrame(rows)

    def get_metrics(self, run: str | Run) -> dict[str, Any]:
        name = run.name if isinstance(run, Run) else run
        return dict(self.runs.metrics(name))

    def visualize(self, runs: str | Run | list[str | Run],
                  html_path: str | os.PathLike[str] | None = None) -> Path:
        """Write the HTML comparison of ``runs`` and return its path."""
        from ember.client.flow_visualize import write_html

        items = runs if isinstance(runs, list) else [runs]
        names = [r.name if isinstance(r, Run) else r for r in items]
        return write_html(self.runs, [n for n in names if n],
                          Path(html_path) if html_path else None)
