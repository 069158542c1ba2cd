"""The serving supervisor: the router process and every deployment's worker processes.

One instance per server process. A deployment (re)starts as a new *generation*: its workers
start beside the old ones, and only when all are ready does the routing table switch to them;
the old ones are stopped once the router reports no request in flight on them (so an update
drops nothing). A watcher thread restarts a worker that exits or fails its liveness probe, and
the router if it dies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ember.entities.endpoints import ProbeSettings
from ember.serving.processes import (
    PidRegistry,
    Proc,
    StartFailed,
    log_tail,
    probe,
    spawn,
    stop,
    wait_ready,
)

log = logging.getLogger("ember.serving")
Key = tuple[str, str, str]            # (workspace, endpoint, deployment)
WATCH_PERIOD = 0.25
DRAIN_PAUSE = 1.0                     # a request the old table routed is in flight by then


@dataclass
class WorkerPlan:
    """How to start one worker of a deployment (the config gets host/port/port_file added)."""

    argv: list[str]
    env: dict[str, str]
    config: dict[str, Any]
    cwd: Path | None = None


@dataclass
class EndpointView:
    workspace: str
    name: str
    keys: tuple[str, str]
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    deployments: list[str]


@dataclass
class _Instance:
    index: int
    proc: Proc
    fails: int = 0
    next_probe: float = 0.0
    restarts: int = 0
    retry_at: float = 0.0


@dataclass
class _Live:
    plan: WorkerPlan
    generation: int
    liveness: ProbeSettings
    route: dict[str, Any]
    folder: Path
    active: list[_Instance] = field(default_factory=list)
    pending: list[_Instance] = field(default_factory=list)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Supervisor:
    def __init__(self, home: Path, host: str, port: int,
                 endpoints_view: Callable[[], list[EndpointView]]) -> None:
        self.root = home / "serving"
        self.host, self.port = host, port
        self.endpoints_view = endpoints_view
        self.pids = PidRegistry(self.root / "pids.json")
        self.token = secrets.token_urlsafe(32)
        self._live: dict[Key, _Live] = {}
        self._lock = threading.RLock()
        self._push_lock = threading.Lock()
        self._router: Proc | None = None
        self._router_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=10.0)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        stopped = self.pids.stop_leftovers()
        if stopped:
            log.warning("stopped %d serving process(es) a previous server left running", stopped)
        self._thread = threading.Thread(target=self._watch, name="ember-serving", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            procs = [i.proc for live in self._live.values() for i in live.active + live.pending]
            self._live.clear()
        for p in procs:
            stop(p, grace=2.0)
        if self._router is not None:
            stop(self._router, grace=2.0)
        self.pids.stop_leftovers()
        self._http.close()

    def ensure_router(self) -> None:
        """Start the router on first use (a server with no endpoint never starts one)."""
        with self._router_lock:
            if self._router is None:
                self._start_router()

    @property
    def router_url(self) -> str:
        self.ensure_router()
        port = self._router.addr.rsplit(":", 1)[1] if self._router and self._router.addr else "0"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{port}"

    def scoring_uri(self, workspace: str, endpoint: str) -> str:
        return f"{self.router_url}/endpoints/{workspace}/{endpoint}/score"

    def _start_router(self) -> None:
        env = {**os.environ, "EMBER_ROUTER_TOKEN": self.token}
        folder = self.root / "router"
        port = self._router.addr.rsplit(":", 1)[1] if self._router and self._router.addr \
            else str(self.port)
        p = spawn([sys.executable, "-m", "ember.serving.router", "--host", self.host,
                   "--port", port, "--port-file", str(folder / "port")], folder, env)
        self.pids.add(p.proc.pid)
        try:
            wait_ready(p, 60.0, "the endpoint router", ready_path="/-/health",
                       headers={"X-Ember-Admin": self.token})
        except StartFailed:
            self.pids.remove(p.proc.pid)
            raise
        self._router = p

    # --- deployments --------------------------------------------------------------------

    def deploy(self, key: Key, plan: WorkerPlan, count: int, liveness: ProbeSettings,
               readiness: ProbeSettings, route: dict[str, Any]) -> None:
        """Start a new generation of ``count`` workers, switch traffic to it once every one is
        ready, then retire the old generation. Raises StartFailed (old generation untouched)."""
        with self._lock:
            old = self._live.get(key)
            generation = (old.generation + 1) if old else 1
        folder = self.root.joinpath(*key)
        timeout = readiness.initial_delay + readiness.period * readiness.failure_threshold
        started: list[_Instance] = []
        try:
            for index in range(count):
                started.append(_Instance(index, self._spawn(folder, generation, index, plan)))
            for inst in started:
                wait_ready(inst.proc, timeout, f"worker {index_label(key, inst.index)}")
        except BaseException:
            for inst in started:
                self.pids.remove(inst.proc.proc.pid)
                stop(inst.proc, grace=1.0)
            raise
        now = time.monotonic()
        for inst in started:
            inst.next_probe = now + liveness.initial_delay
        live = _Live(plan, generation, liveness, route, folder, active=started)
        with self._lock:
            previous = self._live.get(key)
            self._live[key] = live
        self.push()
        if previous is not None:
            self._retire(previous)

    def remove(self, key: Key) -> None:
        """Stop routing to a deployment and stop its workers (after in-flight requests)."""
        with self._lock:
            live = self._live.pop(key, None)
        self.push()
        if live is not None:
            self._retire(live)

    def instances(self, key: Key) -> list[dict[str, Any]]:
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return []
            return [{"index": i.index, "pid": i.proc.proc.pid, "address": i.proc.addr,
                     "state": state, "restarts": i.restarts}
                    for state, group in (("ready", live.active), ("starting", live.pending))
                    for i in group]

    def logs(self, key: Key, lines: int) -> str:
        """The newest ``lines`` lines of each current worker's log, instance by instance."""
        with self._lock:
            live = self._live.get(key)
            folders = sorted({i.proc.folder for i in (live.active + live.pending)}) \
                if live else []
        if not folders:
            base = self.root.joinpath(*key)
            folders = sorted(base.glob("g*-*"), key=lambda p: p.stat().st_mtime)[-1:] \
                if base.exists() else []
        parts = [f"--- {f.name} ---\n{log_tail(f / 'log.txt', lines)}" for f in folders]
        return "\n".join(parts)

    def _spawn(self, folder: Path, generation: int, index: int, plan: WorkerPlan) -> Proc:
        inst_dir = folder / f"g{generation}-{index}"
        config = {**plan.config, "host": "127.0.0.1", "port": 0,
                  "port_file": str(inst_dir / "port")}
        inst_dir.mkdir(parents=True, exist_ok=True)
        (inst_dir / "config.json").write_text(json.dumps(config))
        p = spawn([*plan.argv, str(inst_dir / "config.json")], inst_dir, plan.env, plan.cwd)
        self.pids.add(p.proc.pid)
        return p

    def _retire(self, live: _Live) -> None:
        instances = live.active + live.pending
        addrs = {i.proc.addr for i in instances if i.proc.addr}
        timeout = float(live.route.get("request_timeout_ms", 5000)) / 1000 + DRAIN_PAUSE + 1
        time.sleep(DRAIN_PAUSE)
        deadline = time.monotonic() + timeout
        while addrs and time.monotonic() < deadline:
            if not any(n for a, n in self._inflight().items() if a in addrs):
                break
            time.sleep(0.05)
        for inst in instances:
            stop(inst.proc, grace=5.0)
            self.pids.remove(inst.proc.proc.pid)

    # --- the router ---------------------------------------------------------------------

    def _admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self._http.request(method, f"{self.router_url}{path}",
                                  headers={"X-Ember-Admin": self.token}, **kw)

    def _inflight(self) -> dict[str, int]:
        try:
            return dict(self._admin("GET", "/-/inflight").json())
        except (httpx.HTTPError, ValueError):
            return {}

    def table(self) -> dict[str, Any]:
        endpoints: dict[str, Any] = {}
        views = self.endpoints_view()   # store reads, outside the lock the watcher shares
        with self._lock:
            for view in views:
                deployments: dict[str, Any] = {}
                for name in view.deployments:
                    live = self._live.get((view.workspace, view.name, name))
                    route: dict[str, Any] = dict(live.route) if live else {
                        "max_concurrent_requests_per_instance": 1, "request_timeout_ms": 5000,
                        "max_queue_wait_ms": 500, "collect_request": None,
                        "collect_response": None, "sampling_rate": 0.0}
                    route["instances"] = [i.proc.addr for i in live.active
                                          if i.proc.addr] if live else []
                    deployments[name] = route
                endpoints[f"{view.workspace}/{view.name}"] = {
                    "key_hashes": [key_hash(k) for k in view.keys if k],
                    "traffic": view.traffic, "mirror_traffic": view.mirror_traffic,
                    "deployments": deployments}
        return {"endpoints": endpoints}

    def push(self) -> None:
        """Send the current routing table to the router (serialised; newest wins)."""
        with self._push_lock:
            body = self.table()
            try:
                self._admin("PUT", "/-/routes", json=body).raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("could not update the endpoint router: %s", exc)

    def metrics(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/-/metrics").json())

    def prometheus(self) -> str:
        return self._admin("GET", "/-/metrics/prometheus").text

    # --- the watcher --------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_PERIOD):
            try:
                self._check_router()
                self._check_workers()
            except Exception:  # noqa: BLE001 - the watcher must outlive one bad round
                log.exception("serving watcher round failed")

    def _check_router(self) -> None:
        router = self._router
        if router is not None and router.proc.poll() is not None:
            log.warning("the endpoint router exited (%s); restarting it", router.proc.returncode)
            self.pids.remove(router.proc.pid)
            with self._router_lock:
                self._start_router()
            self.push()

    def _check_workers(self) -> None:
        changed = False
        now = time.monotonic()
        with self._lock:
            lives = list(self._live.items())
        for key, live in lives:
            for inst in list(live.active):
                dead = inst.proc.proc.poll() is not None
                if not dead and now >= inst.next_probe:
                    inst.next_probe = now + live.liveness.period
                    inst.fails = 0 if probe(inst.proc.addr or "", live.liveness.timeout) \
                        else inst.fails + 1
                    dead = inst.fails >= live.liveness.failure_threshold
                if dead:
                    log.warning("worker %s stopped (%s); restarting it", index_label(
                        key, inst.index), inst.proc.proc.poll())
                    self.pids.remove(inst.proc.proc.pid)
                    stop(inst.proc, grace=1.0)
                    with self._lock:
                        live.active.remove(inst)
                        inst.retry_at = now
                        live.pending.append(inst)
                    changed = True
            for inst in list(live.pending):
                changed |= self._advance_pending(key, live, inst, now)
        if changed:
            self.push()

    def _advance_pending(self, key: Key, live: _Live, inst: _Instance, now: float) -> bool:
        """Start a pending replacement, or promote it when ready; True when routes changed."""
        p = inst.proc
        if p.proc.poll() is not None:
            if now < inst.retry_at:
                return False
            inst.proc = self._spawn(live.folder, live.generation, inst.index, live.plan)
            inst.retry_at = now + min(2 ** min(inst.restarts, 5), 30)
            inst.restarts += 1
            return False
        if not p.port_file.exists():
            return False
        try:
            addr = f"127.0.0.1:{int(p.port_file.read_text().strip())}"
        except ValueError:
            return False
        if not probe(addr, 1.0):
            return False
        p.addr = addr
        inst.fails, inst.next_probe = 0, now + live.liveness.initial_delay
        with self._lock:
            if inst in live.pending:
                live.pending.remove(inst)
                live.active.append(inst)
        return True


def index_label(key: Key, index: int) -> str:
    return f"{key[1]}/{key[2]}#{index}"
