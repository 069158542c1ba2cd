"""A flow job's connections, handed over as one environment variable at run time.

A job of the flow engine (a flow run, or a flow step of a pipeline: ``python -m
ember.flows.batch``) gets ``EMBER_CONNECTIONS``: the plain forms, secrets in clear, of the
connections its flow names — its llm nodes' and python tools' connections and ``${conn.key}``
environment variables, with the variant it runs, and the per-node overrides of its ``--config``
and of a step's ``connections`` input. Nothing else of the workspace; on disk only in the job's
``runner.json`` (mode 0600, as its token), never in a log; the job's token reads no secret
through the API. ``flows/remote.from_job_environment`` reads it and takes it out of the
process's environment before any tool runs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember.entities.flow_runs import FLOW_RUN
from ember.entities.jobs import Job
from ember.errors import EmberError, NotFoundError

log = logging.getLogger(__name__)

ENV = "EMBER_CONNECTIONS"
FLOW_ENGINE = "-m ember.flows.batch"
_CONFIG = re.compile(r"--config\s+([A-Za-z0-9_=-]+)")


def is_flow_job(job: Job) -> bool:
    return FLOW_RUN in job.properties or FLOW_ENGINE in job.command


def connection_names(job: Job, code_dir: Path) -> list[str]:
    """The connections the job's flow may ask for (none when its flow does not load: the job
    itself then says why)."""
    from ember.flows.batch import BatchConfig
    from ember.flows.build import used_connections
    from ember.flows.loader import load_flow

    found = _CONFIG.search(job.command)
    try:
        cfg = BatchConfig.decode(found[1]) if found else BatchConfig()
    except (ValueError, TypeError):
        cfg = BatchConfig()
    overrides: list[dict[str, Any]] = list(cfg.connections.values())
    step_input = job.inputs.get("connections")
    if step_input is not None and step_input.value:
        try:
            given = json.loads(str(step_input.value))
        except ValueError:
            given = {}
        if isinstance(given, dict):
            overrides += [v for v in given.values() if isinstance(v, dict)]
    names: list[str] = []
    try:
        names += used_connections(load_flow(code_dir / cfg.flow, cfg.variant))
    except (EmberError, OSError) as exc:
        log.info("job %s: its flow does not load here (%s); no connections handed over",
                 job.name, exc)
    names += [str(o["connection"]) for o in overrides if o.get("connection")]
    return list(dict.fromkeys(names))


def connections_env(job: Job, code_dir: Path, workspace: str,
                    plain_of: Callable[[str, str], dict[str, Any]]) -> dict[str, str]:
    """``{EMBER_CONNECTIONS: json}`` for a flow job; ``{}`` for any other job."""
    if not is_flow_job(job):
        return {}
    plains: dict[str, dict[str, Any]] = {}
    for name in connection_names(job, code_dir):
        try:
            plains[name] = plain_of(workspace, name)
        except NotFoundError:
            pass   # the flow says "connection not found" when (and if) a node asks for it
    return {ENV: json.dumps(plains)}
