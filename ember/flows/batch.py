"""A batch run: one flow over every line of a data file, lines concurrently, then the
aggregation nodes over the lines that succeeded.

It runs inside the run's job (``python -m ember.flows.batch --config <base64 json>``), so the
job's log, cancel and outputs are the run's. What it writes to the output folder:

- ``output.jsonl``   one row per successful line: ``{"line_number": n, <outputs>...}``
- ``details.jsonl``  one row per line: ``line_number``, ``status``, ``inputs``, ``outputs``,
                     ``error`` (message, node, type, traceback), ``trace_id`` and
                     ``node_runs`` (each node's ``status``, ``output``, ``error``, ``duration``)
- ``metrics.json``   what the aggregation nodes logged with ``log_metric``
- ``summary.json``   counts, the first error, token usage, duration, status

A failing line does not fail the run (promptflow's rule) unless more lines fail than
``error_threshold`` allows (a count, or a fraction below 1; -1, the default, never fails).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.errors import EmberError, InvalidInputError, ServerUnavailableError
from ember.flows import data as flowdata
from ember.flows.connections import ConnectionProvider
from ember.flows.trace import Tracer

DEFAULT_WORKERS = 16


@dataclass
class BatchConfig:
    flow: str = "."
    data: str = ""
    output: str = "."
    base_run: str | None = None        # a base run's output folder (its details.jsonl)
    column_mapping: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)
    worker_count: int | None = None
    line_timeout: float | None = None
    error_threshold: float = -1
    # the flow's name in its traces when its YAML gives none (the job's folder is "wd")
    flow_name: str | None = None

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(self.__dict__).encode()).decode()

    @classmethod
    def decode(cls, text: str) -> BatchConfig:
        return cls(**json.loads(base64.urlsafe_b64decode(text.encode())))


def _worker_count(cfg: BatchConfig) -> int:
    if cfg.worker_count:
        return max(1, int(cfg.worker_count))
    env = os.environ.get("PF_WORKER_COUNT")
    return max(1, int(env)) if env and env.isdigit() else DEFAULT_WORKERS


def _line_timeout(cfg: BatchConfig) -> float:
    if cfg.line_timeout:
        return float(cfg.line_timeout)
    env = os.environ.get("PF_LINE_TIMEOUT_SEC")
    return float(env) if env else 600.0


def _base_lines(folder: Path) -> dict[int, dict[str, Any]]:
    """A base run's lines by number; failed lines drop out of the evaluation, as upstream."""
    path = folder / "details.jsonl"
    if not path.is_file():
        raise InvalidInputError(f"base run output {folder} has no details.jsonl; is it the "
                                "output of a flow run?")
    lines: dict[int, dict[str, Any]] = {}
    for row in flowdata.read_rows(path):
        if row.get("status") == "Completed":
            lines[int(row["line_number"])] = row
    return lines


class _Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self._last = 0.0

    def line(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        now = time.monotonic()
        if now - self._last >= 1.0 or self.done == self.total:
            self._last = now
            print(f"[ember] {self.done}/{self.total} lines done, {self.failed} failed",
                  flush=True)


async def run_batch(cfg: BatchConfig, connections: ConnectionProvider,
                    export: Any = None) -> dict[str, Any]:
    """Run the batch; write the output folder; return the summary. ``export`` takes a list of
    finished spans as lines finish; it must not block (``remote.BackgroundExport``)."""
    from ember.flows.executor import FlowExecutor
    from ember.flows.loader import load_flow

    started = time.time()
    flow = load_flow(Path(cfg.flow), variant=cfg.variant)
    if cfg.flow_name and flow.name == flow.folder.resolve().name:
        flow.name = cfg.flow_name
    base = _base_lines(Path(cfg.base_run)) if cfg.base_run else None
    if cfg.data:
        rows = flowdata.read_rows(Path(cfg.data))
    elif base is not None:  # an evaluation run with no data of its own: the base run's inputs
        rows = [{**line["inputs"], "line_number": n} for n, line in sorted(base.items())]
    else:
        raise InvalidInputError("a batch run needs data or a base run")
    mapping = flowdata.parse_mapping(cfg.column_mapping, has_run=cfg.base_run is not None)
    flowdata.check_columns(flow, rows, mapping, cfg.data or "the base run's inputs")

    tracer = Tracer()
    # The run's variables beat the flow's environment_variables, which beat the job's shell.
    executor = FlowExecutor(flow, connections, tracer=tracer, overrides=cfg.connections,
                            environment_variables=cfg.environment_variables)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    numbered = [(flowdata.row_number(row, i), row) for i, row in enumerate(rows)]
    if base is not None:
        numbered = [(n, row) for n, row in numbered if n in base]
    progress = _Progress(len(numbered))
    slots = asyncio.Semaphore(_worker_count(cfg))
    timeout = _line_timeout(cfg)
    results: dict[int, Any] = {}
    details: dict[int, dict[str, Any]] = {}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    async def flush() -> None:
        spans = tracer.take()
        for span in spans:
            for key in usage:
                value = span.attributes.get(f"llm.usage.{key}")
                usage[key] += value if isinstance(value, int) else 0
        if spans and export is not None:
            export(spans)   # a BackgroundExport: queued, sent in batches by its thread

    async def one(number: int, row: dict[str, Any]) -> None:
        async with slots:
            try:
                inputs = flowdata.line_inputs(flow, row, mapping,
                                              base.get(number) if base else None)
            except EmberError as exc:
                details[number] = _failed_line(number, row, str(exc))
                progress.line(False)
                return
            try:
                result = await asyncio.wait_for(executor.run_line(inputs, line_number=number),
                                                timeout)
            except TimeoutError:
                details[number] = _failed_line(
                    number, inputs, f"line {number} did not finish within {timeout:g} s "
                    "(PF_LINE_TIMEOUT_SEC)")
                progress.line(False)
                return
            results[number] = result
            details[number] = {"line_number": number, "status": result.status,
                               "inputs": result.inputs, "outputs": result.outputs,
                               "error": result.error, "trace_id": result.trace_id,
                               "node_runs": _node_runs(result.node_runs)}
            progress.line(result.status == "Completed")
            await flush()

    await asyncio.gather(*(one(n, row) for n, row in numbered))
    ok = [results[n] for n in sorted(results) if results[n].status == "Completed"]
    aggregation = await executor.run_aggregation(ok)
    await flush()
    llm = sys.modules.get("ember.flows.llm")
    if llm is not None:   # its client pools belong to this event loop, about to close
        await llm.close_clients()

    ordered = [details[n] for n in sorted(details)]
    _write_jsonl(out / "details.jsonl", ordered)
    _write_jsonl(out / "output.jsonl", [{"line_number": d["line_number"], **d["outputs"]}
                                        for d in ordered if d["status"] == "Completed"])
    (out / "metrics.json").write_text(json.dumps(aggregation.metrics, indent=2))
    failed = [d for d in ordered if d["status"] != "Completed"]
    status = "Completed"
    if _over_threshold(len(failed), len(ordered), cfg.error_threshold):
        status = "Failed"
    if aggregation.status == "Failed":
        status = "Failed"
    summary = {
        "status": status, "total_lines": len(ordered), "completed_lines": len(ok),
        "failed_lines": len(failed), "duration": round(time.time() - started, 3),
        "first_error": None, "aggregation_error": aggregation.error,
        "system_metrics": usage,
    }
    if failed:
        first = failed[0]
        summary["first_error"] = {"line_number": first["line_number"],
                                  "message": (first.get("error") or {}).get("message")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _node_runs(runs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each node's status, output and error on a line (what the studio's test run shows)."""
    return {name: {"status": r.status, "output": r.output, "error": r.error,
                   "duration": round(r.end_time - r.start_time, 6)}
            for name, r in runs.items()}


def _failed_line(number: int, inputs: dict[str, Any], message: str) -> dict[str, Any]:
    return {"line_number": number, "status": "Failed", "inputs": inputs, "outputs": {},
            "error": {"message": message, "node": None, "type": "InputError",
                      "traceback": None}, "trace_id": None, "node_runs": {}}


def _over_threshold(failed: int, total: int, threshold: float) -> bool:
    if threshold < 0 or failed == 0:
        return False
    if 0 < threshold < 1:
        return failed / max(total, 1) > threshold
    return failed > threshold


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=repr) + "\n")


def _log_metrics(summary: dict[str, Any], metrics: dict[str, Any]) -> None:
    """The aggregation metrics and the line counts as the job's MLflow run metrics."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not uri.startswith("http") or not run_id:
        return
    from ember.flows._http import Http

    now = int(time.time() * 1000)
    values = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    values.update({"total_lines": summary["total_lines"],
                   "completed_lines": summary["completed_lines"],
                   "failed_lines": summary["failed_lines"],
                   **{f"__pf__.{k}": v for k, v in summary["system_metrics"].items()}})
    body = {"run_id": run_id, "metrics": [
        {"key": k, "value": float(v), "timestamp": now, "step": 0} for k, v in values.items()]}
    url = uri.rstrip("/") + "/api/2.0/mlflow/runs/log-batch"
    resp = Http(url).post(url, json_body=body)
    if resp.status_code >= 400:
        raise ServerUnavailableError(f"logging the run's metrics: {url} answered "
                                     f"{resp.status_code}: {resp.text[:200]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ember.flows.batch")
    parser.add_argument("--config", required=True, help="the run's settings (base64 JSON)")
    parser.add_argument("--data", default="")
    parser.add_argument("--output", required=True)
    parser.add_argument("--base-run", default=None)
    # A flow as a pipeline step (ember.client.flow_components): the column mapping and the
    # connections are step inputs, so they arrive on the command line, not in --config.
    parser.add_argument("--map", action="append", default=[], metavar="NAME=VALUE",
                        help="a column mapping entry (repeatable; wins over --config's)")
    parser.add_argument("--connections", default=None,
                        help='JSON {node: {connection: x, deployment_name: y}}, over --config\'s')
    args = parser.parse_args(argv)
    cfg = BatchConfig.decode(args.config)
    cfg.data, cfg.output, cfg.base_run = args.data, args.output, args.base_run
    for entry in args.map:
        name, sep, value = entry.partition("=")
        if not sep or not name.strip():
            parser.error(f"--map {entry!r}: expected NAME=VALUE")
        cfg.column_mapping[name.strip()] = value
    if args.connections:
        try:
            given = json.loads(args.connections)
        except json.JSONDecodeError as exc:
            parser.error(f"--connections is not JSON: {exc.msg}")
        if not isinstance(given, dict) or not all(isinstance(v, dict) for v in given.values()):
            parser.error("--connections must be a JSON object {node: {key: value}}")
        for node, keys in given.items():
            cfg.connections[node] = {**cfg.connections.get(node, {}), **keys}
    from ember.flows.remote import BackgroundExport, from_job_environment

    connections, exporter = from_job_environment()
    background = BackgroundExport(exporter.export) if exporter else None
    try:
        summary = asyncio.run(run_batch(cfg, connections, background))
    except EmberError as exc:
        print(f"[ember] flow run failed: {exc.message}", file=sys.stderr, flush=True)
        return 1
    finally:
        if background is not None:
            background.close()
        if exporter is not None:
            exporter.close()
    metrics = json.loads((Path(cfg.output) / "metrics.json").read_text())
    try:
        _log_metrics(summary, metrics)
    except (EmberError, ConnectionError) as exc:
        print(f"[ember] the run's metrics were not logged: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"[ember] {summary['completed_lines']}/{summary['total_lines']} lines completed, "
          f"{summary['failed_lines']} failed", flush=True)
    if summary["first_error"]:
        first = summary["first_error"]
        print(f"[ember] first error, line {first['line_number']}: {first['message']}",
              flush=True)
    return 0 if summary["status"] == "Completed" else 1


def _exit(code: int) -> None:
    """Leave now: a user function that never returned still holds a worker thread, and the
    interpreter would wait for it at exit (everything the run writes is written by now)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
