"""``serving/state.json``: what a server records of its serving processes, so that the next
server can adopt them.

A server killed with ``kill -9`` leaves its router and workers running (they are in their own
sessions) and serving with the last routing table. The file says which they are: the router
(pid, process start time, address, admin token) and every deployment's current generation (its
worker plan, liveness settings, route, and each instance's pid, start time and address; or,
on a Ray compute, its Serve app). The next server adopts each process whose pid *and* start
time still match (as the job scheduler reattaches runners; a pid alone may have been reused)
and treats the others as dead; a Serve app is adopted while the cluster reports it RUNNING.

The file is rewritten atomically on every change and is readable by its owner only: it holds
the router's admin token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ember.entities.online_endpoints import ProbeSettings
from ember.serving.processes import Proc, log_event
from ember.serving.ray_serve import ServeApp

VERSION = 1
Key = tuple[str, str, str]            # (workspace, endpoint, deployment)


@dataclass
class WorkerPlan:
    """How to start one worker of a deployment (the config gets host/port/port_file added).

    ``env`` is added to the server's environment (less its ``EMBER_*`` variables);
    ``memory_limit_mb`` restarts a worker whose resident memory (with its children) passes it;
    ``revision`` is the deployment generation the plan was built for; ``ray`` (a deployment
    on a Ray compute, ``ray_serve.py``): ``{"compute", "address", "actor_options",
    "max_ongoing_requests"}``, and the generation runs as a Serve app instead of processes.
    """

    argv: list[str]
    env: dict[str, str]
    config: dict[str, Any]
    cwd: Path | None = None
    memory_limit_mb: int | None = None
    revision: int = 0
    ray: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "cwd": str(self.cwd) if self.cwd else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerPlan:
        cwd = data.get("cwd")
        return cls(argv=list(data["argv"]), env=dict(data["env"]), config=dict(data["config"]),
                   cwd=Path(cwd) if cwd else None, memory_limit_mb=data.get("memory_limit_mb"),
                   revision=int(data.get("revision", 0)), ray=data.get("ray"))


@dataclass
class Instance:
    """One worker slot of a generation: its process now, and the watcher's bookkeeping."""

    index: int
    proc: Proc
    fails: int = 0
    next_probe: float = 0.0
    next_memory: float = 0.0
    restarts: int = 0
    retry_at: float = 0.0


@dataclass
class Live:
    """A deployment's current generation: ``active`` instances are in the routing table,
    ``pending`` ones are starting or being replaced; a generation on Ray Serve has neither,
    its ``serve`` app's replicas are the routing table's instances."""

    plan: WorkerPlan
    generation: int
    liveness: ProbeSettings
    route: dict[str, Any]
    folder: Path
    active: list[Instance] = field(default_factory=list)
    pending: list[Instance] = field(default_factory=list)
    serve: ServeApp | None = None

    def addrs(self) -> list[str]:
        """The routing table's instances of this generation."""
        if self.serve is not None:
            return self.serve.instances()
        return [i.proc.addr for i in self.active if i.proc.addr]


def index_label(key: Key, index: int) -> str:
    return f"{key[1]}/{key[2]}#{index}"


@dataclass
class SavedProc:
    pid: int
    create_time: float
    addr: str | None


@dataclass
class SavedInstance:
    index: int
    proc: SavedProc
    restarts: int
    active: bool                      # in the routing table (else starting or restarting)


@dataclass
class SavedDeployment:
    key: Key
    plan: WorkerPlan
    generation: int
    liveness: ProbeSettings
    route: dict[str, Any]
    folder: Path
    instances: list[SavedInstance] = field(default_factory=list)
    serve: ServeApp | None = None


@dataclass
class SavedState:
    router: SavedProc | None = None
    token: str = ""
    deployments: list[SavedDeployment] = field(default_factory=list)


def write_state(path: Path, state: SavedState) -> None:
    data = {
        "version": VERSION,
        "router": asdict(state.router) if state.router else None,
        "token": state.token,
        "deployments": [{
            "key": list(d.key), "plan": d.plan.to_json(), "generation": d.generation,
            "liveness": asdict(d.liveness), "route": d.route, "folder": str(d.folder),
            "instances": [asdict(i) for i in d.instances],
            "serve": d.serve.to_json() if d.serve else None} for d in state.deployments],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)   # a leftover tmp file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def read_state(path: Path) -> SavedState:
    """The recorded state; empty when there is none or it cannot be read (nothing is adopted,
    and the pid registry still stops what is left)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return SavedState()
        return SavedState(
            router=SavedProc(**data["router"]) if data.get("router") else None,
            token=str(data.get("token") or ""),
            deployments=[_deployment(d) for d in data.get("deployments") or []])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return SavedState()


def _deployment(d: dict[str, Any]) -> SavedDeployment:
    ws, endpoint, name = d["key"]
    return SavedDeployment(
        key=(str(ws), str(endpoint), str(name)), plan=WorkerPlan.from_json(d["plan"]),
        generation=int(d["generation"]), liveness=ProbeSettings(**d["liveness"]),
        route=dict(d["route"]), folder=Path(d["folder"]),
        instances=[SavedInstance(index=int(i["index"]), proc=SavedProc(**i["proc"]),
                                 restarts=int(i["restarts"]), active=bool(i["active"]))
                   for i in d["instances"]],
        serve=ServeApp.from_json(d["serve"]) if d.get("serve") else None)


def snapshot(router: Proc | None, token: str, lives: Mapping[Key, Live]) -> SavedState:
    return SavedState(
        router=SavedProc(router.pid, router.create_time, router.addr) if router else None,
        token=token,
        deployments=[SavedDeployment(
            key, live.plan, live.generation, live.liveness, live.route, live.folder,
            [SavedInstance(i.index, SavedProc(i.proc.pid, i.proc.create_time, i.proc.addr),
                           i.restarts, active)
             for active, group in ((True, live.active), (False, live.pending)) for i in group],
            live.serve)
            for key, live in lives.items()])


def restore(saved: SavedState, now: float) -> dict[Key, Live]:
    """The recorded generations, each instance adopted when its process (pid and start time)
    still runs, else left pending with its dead process, for the watcher to replace (and the
    reason written to its log)."""
    lives: dict[Key, Live] = {}
    for d in saved.deployments:
        live = lives[d.key] = Live(d.plan, d.generation, d.liveness, d.route, d.folder,
                                   serve=d.serve)   # the supervisor checks it still runs
        for si in d.instances:
            folder = d.folder / f"g{d.generation}-{si.index}"
            proc = Proc(si.proc.pid, si.proc.create_time, folder, addr=si.proc.addr)
            inst = Instance(si.index, proc, restarts=si.restarts,
                            next_probe=now + d.liveness.period)
            if proc.poll() is None and (proc.addr or not si.active):
                (live.active if si.active else live.pending).append(inst)
                continue
            log_event(folder, f"worker {index_label(d.key, si.index)} (pid {proc.pid}) was "
                              "not running when the server started; starting a new one")
            live.pending.append(inst)   # proc.poll() says gone: the watcher starts a new one
    return lives
