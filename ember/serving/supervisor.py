"""The serving supervisor: the router process and every deployment's worker processes.

One instance per server process. A deployment (re)starts as a new *generation*: its workers
start beside the old ones, and only when all are ready does the routing table switch to them;
the old ones are stopped once the router reports no request in flight on them (so an update
drops nothing). A watcher thread restarts a worker that exits, fails its liveness probe (which
includes a run() stuck past the request timeout) or passes its memory limit, and the router if
it dies; each worker restart is written to the deployment's logs.

A deployment on a Ray compute (``WorkerPlan.ray``) runs each generation as a Ray Serve app
instead (``ray_serve.py``): the same switch and drain, the old app deleted after it, one router
instance per replica; ``close`` deletes the apps as it stops the workers.

Restart: the router and the workers outlive a server that dies. ``serving/state.json``
(``_supervisor_state.py``) records them; the next server adopts every one whose pid and start
time still match, keeps the router's admin token and port, treats the rest as dead (replaced by
the watcher), and stops whatever else a previous server left (``serving/pids.json``).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ember.private_files import write_private
from ember.engine.job_env import scrubbed_environ
from ember.entities.online_endpoints import ProbeSettings
from ember.serving._supervisor_state import (
    Instance as _Instance,
)
from ember.serving._supervisor_state import (
    Key,
    Live,
    SavedState,
    WorkerPlan,
    index_label,
    read_state,
    restore,
    snapshot,
    write_state,
)
from ember.serving.protocol import WORKER_KEY_ENV, worker_key
from ember.serving.ray_serve import RayServe
from ember.serving.processes import (
    PidRegistry,
    Proc,
    StartFailed,
    liveness,
    log_event,
    log_tail,
    memory_mb,
    probe,
    spawn,
    stop,
    wait_ready,
)

__all__ = ["EndpointView", "Key", "StartFailed", "Supervisor", "WorkerPlan"]

log = logging.getLogger("ember.serving")
WATCH_PERIOD = 0.25
MEMORY_PERIOD = 1.0                   # seconds between two memory readings of a worker
DRAIN_PAUSE = 1.0                     # a request the old table routed is in flight by then


@dataclass
class EndpointView:
    workspace: str
    name: str
    keys: tuple[str, str]
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    deployments: list[str]
    limits: dict[str, int] | None = None    # protocol.EndpointLimits (serverless endpoints)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Supervisor:
    def __init__(self, home: Path, host: str, port: int,
                 endpoints_view: Callable[[], list[EndpointView]]) -> None:
        self.root = home / "serving"
        self.host, self.port = host, port
        self.endpoints_view = endpoints_view
        self.pids = PidRegistry(self.root / "pids.json")
        self.state_path = self.root / "state.json"
        self.token = secrets.token_urlsafe(32)
        self._live: dict[Key, Live] = {}
        self._lock = threading.RLock()
        self._push_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._router: Proc | None = None
        self._router_port = str(port)   # where a (re)started router binds
        self._router_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=10.0)
        self.ray = RayServe(self.root)   # generations on Ray Serve (``WorkerPlan.ray``)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Adopt what a previous server left serving, stop the rest, start the watcher."""
        saved = read_state(self.state_path)
        if saved.token:
            # Kept even when the router is replaced: the workers' secret is derived from it
            # (protocol.worker_key), so adopted workers answer the new router.
            self.token = saved.token
        self._adopt_router(saved)
        self._adopt_deployments(saved)
        with self._lock:
            kept = [i.proc for live in self._live.values() for i in live.active + live.pending
                    if i.proc.popen is None and i.proc.poll() is None]
        if self._router is not None:
            kept.append(self._router)
        stopped = self.pids.stop_leftovers(kept)
        if stopped:
            log.warning("stopped %d serving process(es) a previous server left running", stopped)
        self._save()
        if self._live:
            self.push()   # the router's table as this server knows it (dead workers out)
        self._thread = threading.Thread(target=self._watch, name="ember-serving", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the router and every worker (a deliberate stop leaves nothing to adopt)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            procs = [i.proc for live in self._live.values() for i in live.active + live.pending]
            apps = [live.serve for live in self._live.values() if live.serve is not None]
            self._live.clear()
        for p in procs:
            stop(p, grace=2.0)
        if apps:
            self.ray.delete(apps)
        if self._router is not None:
            stop(self._router, grace=2.0)
            self._router = None
        self.pids.stop_leftovers()
        self._save()
        self._http.close()
        self.ray.close()

    def adopted(self) -> dict[Key, int]:
        """Each deployment this supervisor runs, with the revision (deployment generation) its
        workers were planned for: after start, what was adopted."""
        with self._lock:
            return {key: live.plan.revision for key, live in self._live.items()}

    def _adopt_router(self, saved: SavedState) -> None:
        r = saved.router
        if r is None or not r.addr:
            return
        port = r.addr.rsplit(":", 1)[1]
        if self.port == 0:
            self._router_port = port   # a new router keeps the scoring URIs where they were
        proc = Proc(r.pid, r.create_time, self.root / "router", addr=r.addr)
        if proc.poll() is not None or (self.port and str(self.port) != port):
            return
        try:
            ok = self._http.get(f"http://{r.addr}/-/health", timeout=2.0,
                                headers={"X-Ember-Admin": saved.token}).status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            self._router, self.token = proc, saved.token
            log.warning("adopted the endpoint router (pid %d) on %s", r.pid, r.addr)

    def _adopt_deployments(self, saved: SavedState) -> None:
        lives = restore(saved, time.monotonic())
        for key, live in list(lives.items()):
            if live.serve is not None and not self.ray.running(live.serve):
                log.warning("Serve app %s of deployment %s/%s no longer runs on Ray compute "
                            "%r", live.serve.app, key[1], key[2], live.serve.compute)
                del lives[key]   # not adopted: the deployment is rolled out again
        with self._lock:
            self._live.update(lives)
        if lives:
            log.warning("adopted %d deployment(s) a previous server left serving", len(lives))

    def _save(self) -> None:
        """Record the router and every current generation (see _supervisor_state)."""
        with self._state_lock:
            with self._lock:
                state = snapshot(self._router, self.token, self._live)
            try:
                write_state(self.state_path, state)
            except OSError as exc:
                log.warning("could not record the serving state: %s", exc)

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
        try:
            self._router = self._spawn_router(self._router_port)
        except StartFailed:
            if self._router_port == str(self.port):
                raise
            # The port the last router had is taken now: any port (scoring URIs change).
            self._router = self._spawn_router(str(self.port))
        self._router_port = (self._router.addr or "").rsplit(":", 1)[-1] or str(self.port)
        self._save()

    def _spawn_router(self, port: str) -> Proc:
        env = {**os.environ, "EMBER_ROUTER_TOKEN": self.token}
        folder = self.root / "router"
        p = spawn([sys.executable, "-m", "ember.serving.router", "--host", self.host,
                   "--port", port, "--port-file", str(folder / "port")], folder, env)
        self.pids.add(p)
        try:
            wait_ready(p, 60.0, "the endpoint router", ready_path="/-/health",
                       headers={"X-Ember-Admin": self.token})
        except StartFailed:
            self.pids.remove(p.pid)
            raise
        return p

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
        if plan.ray is not None:
            # named by the deployment's own generation: unique across server restarts
            app = self.ray.deploy(key, plan.revision or generation, plan.ray, plan.config,
                                  count, worker_key(self.token), folder, timeout)
            self._switch(key, Live(plan, generation, liveness, route, folder, serve=app))
            return
        started: list[_Instance] = []
        try:
            for index in range(count):
                started.append(_Instance(index, self._spawn(folder, generation, index, plan)))
            for inst in started:
                wait_ready(inst.proc, timeout, f"worker {index_label(key, inst.index)}")
        except BaseException:
            for inst in started:
                self.pids.remove(inst.proc.pid)
                stop(inst.proc, grace=1.0)
            raise
        now = time.monotonic()
        for inst in started:
            inst.next_probe = now + liveness.initial_delay
        self._switch(key, Live(plan, generation, liveness, route, folder, active=started))

    def _switch(self, key: Key, live: Live) -> None:
        """Route to ``live`` (ready), then retire the generation it replaces."""
        with self._lock:
            previous = self._live.get(key)
            self._live[key] = live
        self._save()
        self.push()
        if previous is not None:
            self._retire(previous)

    def remove(self, key: Key) -> None:
        """Stop routing to a deployment and stop its workers (after in-flight requests)."""
        with self._lock:
            live = self._live.pop(key, None)
        self._save()
        self.push()
        if live is not None:
            self._retire(live)

    def instances(self, key: Key) -> list[dict[str, Any]]:
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return []
            if live.serve is not None:   # Serve's replicas: no process of ours
                return [{"index": i, "pid": None, "state": "ready", "restarts": 0,
                         "compute": live.serve.compute, "serve_app": live.serve.app}
                        for i in range(live.serve.replicas)]
            # No address: a worker's port is the router's business (the API would hand it to
            # whoever can read a deployment); the pid stays, for get-logs and restarts.
            return [{"index": i.index, "pid": i.proc.pid,
                     "state": state, "restarts": i.restarts}
                    for state, group in (("ready", live.active), ("starting", live.pending))
                    for i in group]

    def serves(self, key: Key) -> str:
        """What the deployment's running workers serve: "language_model", "flow" or "model";
        "" when none runs."""
        with self._lock:
            live = self._live.get(key)
        if live is None:
            return ""
        kind = live.plan.config.get("kind")
        return {"llm": "language_model", "flow": "flow"}.get(str(kind), "model")

    def logs(self, key: Key, lines: int) -> str:
        """The newest ``lines`` lines of each current worker's log, instance by instance (on
        Ray Serve: the deploy job's log, then each replica's output, read from the cluster)."""
        with self._lock:
            live = self._live.get(key)
            folders = sorted({i.proc.folder for i in (live.active + live.pending)}) \
                if live else []
            serve = live.serve if live is not None else None
        if serve is not None:
            folders = [self.root.joinpath(*key) / f"ray-{serve.app}"]
        if not folders:
            base = self.root.joinpath(*key)
            folders = sorted([*base.glob("g*-*"), *base.glob("ray-*")],
                             key=lambda p: p.stat().st_mtime)[-1:] if base.exists() else []
        parts = [f"--- {f.name} ---\n{log_tail(f / 'log.txt', lines)}" for f in folders]
        if serve is not None:
            parts.append(self.ray.logs(serve, lines))
        return "\n".join(parts)

    def _spawn(self, folder: Path, generation: int, index: int, plan: WorkerPlan) -> Proc:
        inst_dir = folder / f"g{generation}-{index}"
        config = {**plan.config, "host": "127.0.0.1", "port": 0,
                  "port_file": str(inst_dir / "port")}
        inst_dir.mkdir(parents=True, exist_ok=True)
        # owner-only: a flow deployment's config holds its token
        write_private(inst_dir / "config.json", json.dumps(config).encode())
        # Scoring code runs here: none of Ember's variables, none of the server's secrets.
        env = {k: v for k, v in scrubbed_environ(os.environ).items()
               if not k.startswith("EMBER_")}
        env[WORKER_KEY_ENV] = worker_key(self.token)
        p = spawn([*plan.argv, str(inst_dir / "config.json")], inst_dir, {**env, **plan.env},
                  plan.cwd)
        self.pids.add(p)
        return p

    def _retire(self, live: Live) -> None:
        instances = live.active + live.pending
        addrs = {i.proc.addr for i in instances if i.proc.addr} | set(live.addrs())
        timeout = float(live.route.get("request_timeout_ms", 5000)) / 1000 + DRAIN_PAUSE + 1
        time.sleep(DRAIN_PAUSE)
        deadline = time.monotonic() + timeout
        while addrs and time.monotonic() < deadline:
            if not any(n for a, n in self._inflight().items() if a in addrs):
                break
            time.sleep(0.05)
        for inst in instances:
            stop(inst.proc, grace=5.0)
            self.pids.remove(inst.proc.pid)
        if live.serve is not None:
            self.ray.delete([live.serve])

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
                    route["instances"] = live.addrs() if live else []
                    deployments[name] = route
                route_of_endpoint: dict[str, Any] = {
                    "key_hashes": [key_hash(k) for k in view.keys if k],
                    "traffic": view.traffic, "mirror_traffic": view.mirror_traffic,
                    "deployments": deployments}
                if view.limits:
                    route_of_endpoint["limits"] = dict(view.limits)
                endpoints[f"{view.workspace}/{view.name}"] = route_of_endpoint
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

    def usage(self) -> dict[str, Any]:
        """The router's metering: ``{"<ws>/<endpoint>": {"primary": {"requests",
        "prompt_tokens", "completion_tokens"}, "secondary": {...}}}``; {} when the router does
        not answer or reports none."""
        try:
            found = self._admin("GET", "/-/metrics").json()
        except (httpx.HTTPError, ValueError):
            return {}
        usage = found.get("usage") if isinstance(found, dict) else None
        return usage if isinstance(usage, dict) else {}

    def usage_history(self) -> dict[str, Any]:
        """The router's per-minute usage: ``{"<ws>/<endpoint>": [{"minute", "requests",
        "prompt_tokens", "completion_tokens"}]}``; {} when the router does not answer."""
        try:
            found = self._admin("GET", "/-/metrics").json()
        except (httpx.HTTPError, ValueError):
            return {}
        history = found.get("usage_history") if isinstance(found, dict) else None
        return history if isinstance(history, dict) else {}

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
        if router is not None and router.poll() is not None:
            log.warning("the endpoint router exited (%s); restarting it", router.poll())
            self.pids.remove(router.pid)
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
                reason = self._unhealthy(live, inst, now)
                if reason is None:
                    continue
                what = f"worker {index_label(key, inst.index)} (pid {inst.proc.pid})"
                log.warning("%s %s; restarting it", what, reason)
                log_event(inst.proc.folder, f"{what} {reason}; restarting it")
                with self._lock:
                    if inst not in live.active:
                        continue   # retired meanwhile
                    live.active.remove(inst)
                    inst.retry_at = now
                    live.pending.append(inst)
                self.push()   # out of the routing table before it is stopped
                self.pids.remove(inst.proc.pid)
                stop(inst.proc, grace=1.0)
                changed = True
            for inst in list(live.pending):
                changed |= self._advance_pending(key, live, inst, now)
        if changed:
            self._save()
            self.push()

    def _unhealthy(self, live: Live, inst: _Instance, now: float) -> str | None:
        """Why a ready worker must be replaced, or None."""
        code = inst.proc.poll()
        if code is not None:
            return "exited" if code < 0 else f"exited with status {code}"
        limit = live.plan.memory_limit_mb
        if limit and now >= inst.next_memory:
            inst.next_memory = now + MEMORY_PERIOD
            used = memory_mb(inst.proc)
            if used > limit:
                return f"uses {used:.0f} MB of memory, over worker_memory_limit_mb {limit}"
        if now >= inst.next_probe:
            inst.next_probe = now + live.liveness.period
            why = liveness(inst.proc.addr or "", live.liveness.timeout)
            inst.fails = 0 if why is None else inst.fails + 1
            if why is not None and inst.fails >= live.liveness.failure_threshold:
                return f"failed its liveness probe {inst.fails} times ({why})"
        return None

    def _advance_pending(self, key: Key, live: Live, inst: _Instance, now: float) -> bool:
        """Start a pending replacement, or promote it when ready; True when routes changed."""
        p = inst.proc
        if p.poll() is not None:
            if now < inst.retry_at:
                return False
            inst.proc = self._spawn(live.folder, live.generation, inst.index, live.plan)
            inst.retry_at = now + min(2 ** min(inst.restarts, 5), 30)
            inst.restarts += 1
            self._save()
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
