"""Online deployments served by Ray Serve (``compute: azureml:<ray compute>``).

Each generation of such a deployment is one Serve application, ``ember-<ws>-<endpoint>-
<deployment>-g<generation>`` (lower case, other characters as ``-``), its route prefix the same,
``num_replicas = instance_count``; the replica (``_ray_serve_replica.py``) runs the local
worker's own scorer. The router stays in front: it forwards to Serve's HTTP proxy as to a local
worker, one upstream per replica (``host:port/<app>#<i>``: Serve balances, the router's
``max_concurrent_requests_per_instance`` counts per replica), so keys, traffic split, mirroring,
metrics and payload collection do not change.

The server never joins the cluster as a Ray driver: each change is a small Ray job submitted
through the compute's job-submission address (``_ray_serve_job.py``; the apps outlive it,
measured). The job's working_dir carries the replica, the worker's files, the code and the
model (Ray's limit: 100 MiB zipped). Serve's proxy is started once per cluster on a port free on
the head node, bound to 127.0.0.1 when the compute's address is a loopback one, else 0.0.0.0;
the router reaches it at the compute address's host and the port Serve reports on the
dashboard (``GET /api/serve/applications/``).

The router's secret (``protocol.worker_key``) reaches the replicas through the deploy job's
environment and Serve's stored init arguments: whoever can use the cluster's dashboard can read
it, as they can run any code on the cluster; the network that reaches only Serve's proxy cannot.
A generation's log (``get_logs``) is its deploy job's output, which holds a failed ``init()``'s
traceback; what the replicas print stays in Ray's own logs on the cluster. Serve restarts a
replica that dies; Ember's watcher does not probe Serve apps.

``ray`` is imported here only, when a deployment first needs it (the ``ray`` extra).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from ember.entities.computes import RAY_EXTRA_HINT
from ember.errors import DeploymentFailedError, UnsupportedError

log = logging.getLogger("ember.serving")
HERE = Path(__file__).resolve().parent
JOB_FILE, REPLICA_FILE = "_ember_serve_job.py", "_ember_serve_replica.py"
WORKER_FILES = ("worker.py", "_worker_scoring.py", "_worker_mlflow.py")
RESULT = "EMBER_SERVE_RESULT "
LOOPBACK = ("127.0.0.1", "localhost", "::1")
POLL = 0.25
AGENT_WAIT = 60.0   # seconds a just-started head may take to accept jobs


@dataclass
class ServeApp:
    """One generation's Serve application, as the supervisor records it."""

    compute: str
    address: str            # the compute's job-submission address when it was deployed
    app: str
    proxy: str              # "host:port" of Serve's HTTP proxy
    replicas: int

    def instances(self) -> list[str]:
        return [f"{self.proxy}/{self.app}#{i}" for i in range(self.replicas)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServeApp:
        return cls(compute=str(data["compute"]), address=str(data["address"]),
                   app=str(data["app"]), proxy=str(data["proxy"]),
                   replicas=int(data["replicas"]))


def app_name(key: tuple[str, str, str], generation: int) -> str:
    ws, endpoint, deployment = (re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-")
                                for part in key)
    return f"ember-{ws}-{endpoint}-{deployment}-g{generation}"


def _what(key: tuple[str, str, str], compute: str) -> str:
    return f"online deployment {key[2]!r} (endpoint {key[1]!r}) on Ray compute {compute!r}"


def _client(address: str, what: str) -> Any:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise UnsupportedError(f"{what}: Ray is not installed on the Ember server: "
                               f"{RAY_EXTRA_HINT}") from None
    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # noqa: BLE001 - ConnectionError and Ray's own
        raise DeploymentFailedError(f"{what}: the Ray cluster at {address} does not answer "
                                    f"({str(exc).splitlines()[0] if str(exc) else exc!r})"
                                    ) from None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _put(src: Path, dst: Path) -> None:
    """``src`` (file or folder, symlinks followed) at ``dst``, hard-linked where possible."""
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(src), str(dst))


def _ship_runtime(folder: Path) -> None:
    """The job and replica modules, and the worker's files under ``_ember/``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / "_ray_serve_job.py", folder / JOB_FILE)
    shutil.copy2(HERE / "_ray_serve_replica.py", folder / REPLICA_FILE)
    (folder / "_ember").mkdir(exist_ok=True)
    for name in WORKER_FILES:
        shutil.copy2(HERE / name, folder / "_ember" / name)
    compat = HERE / "_compat"
    if compat.is_dir():
        shutil.copytree(compat, folder / "_ember" / "_compat", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))


def stage(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Lay out a generation's working_dir in ``folder``; returns the replica's config (paths
    relative to the working_dir)."""
    if folder.exists():
        shutil.rmtree(folder)
    _ship_runtime(folder)
    out = {k: v for k, v in config.items() if k not in ("host", "port", "port_file")}
    if config.get("code_dir"):
        _put(Path(config["code_dir"]), folder / "code")
        out["code_dir"] = "code"
    model_dir, model_path = config.get("model_dir"), config.get("model_path")
    if model_dir:
        _put(Path(model_dir), folder / "model")
        out["model_dir"] = "model"
        if model_path:
            # model_path is the real path of an entry of model_dir (often a link to the
            # artifact store): the entry's name is where it lies in the copy
            names = [e.name for e in Path(model_dir).iterdir()
                     if os.path.realpath(e) == os.path.realpath(model_path)]
            out["model_path"] = str(Path("model") / names[0]) if names else "model"
    return out


class RayServe:
    """Deploys and deletes Serve apps through Ray jobs; ``root`` holds each generation's
    working_dir and the jobs' logs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._http = httpx.Client(timeout=5.0)

    def deploy(self, key: tuple[str, str, str], generation: int, ray: dict[str, Any],
               config: dict[str, Any], count: int, worker_key: str, folder: Path,
               timeout: float) -> ServeApp:
        """Start generation ``generation`` as a Serve app and wait until Serve's proxy routes
        to it (the Serve job's log: ``folder/ray-<app>/log.txt``). Raises
        DeploymentFailedError (one line: deployment, compute, why) and leaves no app behind."""
        compute, address = str(ray["compute"]), str(ray["address"])
        what = _what(key, compute)
        client = _client(address, what)
        app = app_name(key, generation)
        work = folder / f"ray-{app}"
        work.mkdir(parents=True, exist_ok=True)
        replica = stage(config, work / "app")
        replica["route_prefix"] = f"/{app}"
        host = urlsplit(address).hostname or "127.0.0.1"
        job_config = {
            "action": "deploy", "app": app, "replicas": count, "replica": replica,
            "http_host": "127.0.0.1" if host in LOOPBACK else "0.0.0.0",
            "max_ongoing_requests": int(ray.get("max_ongoing_requests") or 5),
            "graceful_shutdown_s": float(config.get("request_timeout_ms") or 5000) / 1000 + 5,
            "actor_options": ray.get("actor_options") or {},
            "env_vars": {k: str(v) for k, v in (config.get("environment_variables") or {})
                         .items()}}
        log_path = work / "log.txt"
        ok, error, reported = self._run_job(client, work / "app", job_config, worker_key,
                                            log_path, what, f"deploy {app}", timeout)
        shutil.rmtree(work / "app", ignore_errors=True)   # uploaded: Ray keeps the package
        served = ServeApp(compute, address, app, "", count)
        if not ok:
            if not reported:   # stopped or broken before it could clean up after itself
                self.delete([served])
            raise DeploymentFailedError(f"{what}: the Serve app did not start: {error}")
        try:
            served.proxy = self._proxy(address, host, what)
        except DeploymentFailedError:
            self.delete([served])
            raise
        if not self._routed(served, timeout):
            self.delete([served])
            raise DeploymentFailedError(f"{what}: Serve's proxy at {served.proxy} does not "
                                        f"route to /{app} after {timeout:.0f} s")
        return served

    def delete(self, apps: list[ServeApp]) -> None:
        """Delete the apps, one Ray job per cluster (Serve lets their requests in flight
        finish); a failure is logged, not raised."""
        by_address: dict[str, list[ServeApp]] = {}
        for app in apps:
            by_address.setdefault(app.address, []).append(app)
        for address, group in by_address.items():
            names = [a.app for a in group]
            what = f"Serve app(s) {', '.join(names)} on Ray compute {group[0].compute!r}"
            try:
                client = _client(address, what)
                tools = self.root / "ray-serve-tools"
                _ship_runtime(tools)
                ok, error, _ = self._run_job(client, tools, {"action": "delete", "apps": names},
                                             "", None, what, f"delete {' '.join(names)}", 120.0)
            except Exception as exc:  # noqa: BLE001 - a failed delete must not fail the caller
                ok, error = False, str(exc)
            if not ok:
                log.warning("could not delete %s: %s", what, error)

    def running(self, app: ServeApp) -> bool:
        """Whether the cluster's dashboard reports the app RUNNING."""
        try:
            found = self._applications(app.address)
        except (httpx.HTTPError, ValueError):
            return False
        status = (found.get("applications") or {}).get(app.app) or {}
        return status.get("status") == "RUNNING"

    def logs(self, app: ServeApp, lines: int) -> str:
        """Each replica's newest ``lines`` lines of output (stdout, then stderr), read through
        the cluster's dashboard; a line saying why when it cannot be read."""
        try:
            found = self._applications(app.address)
            deployments = ((found.get("applications") or {}).get(app.app) or {}) \
                .get("deployments") or {}
            replicas = [r for d in deployments.values() for r in d.get("replicas") or []]
        except (httpx.HTTPError, ValueError) as exc:
            return f"--- replicas of {app.app} ---\n(the dashboard at {app.address} does not " \
                   f"answer: {exc})"
        parts = []
        for r in replicas:
            texts = []
            for suffix in ("out", "err"):
                try:
                    got = self._http.get(f"{app.address.rstrip('/')}/api/v0/logs/file",
                                         params={"actor_id": r.get("actor_id", ""),
                                                 "suffix": suffix, "lines": lines})
                    text = got.text if got.status_code == 200 else f"(status {got.status_code})"
                except httpx.HTTPError as exc:
                    text = f"({type(exc).__name__})"
                # Ray heads each actor's file with ":job_id:" and ":actor_name:" lines
                texts.append("\n".join(line for line in text.splitlines()
                                       if not line.startswith((":job_id:", ":actor_name:"))))
            parts.append(f"--- replica {r.get('replica_id', '?')} of {app.app} (pid "
                         f"{r.get('pid', '?')}, node {r.get('node_ip', '?')}) ---\n"
                         + "\n".join(t for t in texts if t))
        return "\n".join(parts) or f"--- replicas of {app.app} ---\n(none running)"

    def close(self) -> None:
        self._http.close()

    # --- helpers --------------------------------------------------------------------------

    def _applications(self, address: str) -> dict[str, Any]:
        r = self._http.get(f"{address.rstrip('/')}/api/serve/applications/")
        r.raise_for_status()
        found = r.json()
        return found if isinstance(found, dict) else {}

    def _proxy(self, address: str, host: str, what: str) -> str:
        try:
            port = (self._applications(address).get("http_options") or {}).get("port")
        except (httpx.HTTPError, ValueError) as exc:
            raise DeploymentFailedError(f"{what}: cannot read Serve's HTTP port from the "
                                        f"dashboard at {address}: {exc}") from None
        if not port:
            raise DeploymentFailedError(f"{what}: the dashboard at {address} reports no Serve "
                                        "HTTP proxy")
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _routed(self, app: ServeApp, timeout: float) -> bool:
        """Serve reports an app RUNNING before every proxy has its route: wait for it."""
        deadline = time.monotonic() + timeout
        url = f"http://{app.proxy}/{app.app}/ready"
        while time.monotonic() < deadline:
            try:
                if self._http.get(url, timeout=2.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    @staticmethod
    def _submit(client: Any, working_dir: Path, env: dict[str, str], doing: str,
                timeout: float) -> str:
        """Submit the Serve job; a head whose job agent is not up yet (a cluster just started
        says "No available agent to submit job, please try again later") is asked again."""
        deadline = time.monotonic() + min(timeout, AGENT_WAIT)
        while True:
            try:
                return str(client.submit_job(entrypoint=f"python {JOB_FILE}",
                                             runtime_env={"working_dir": str(working_dir),
                                                          "env_vars": env},
                                             metadata={"ember": doing}))
            except Exception as exc:  # noqa: BLE001 - Ray raises RuntimeError for any status
                if "try again later" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def _run_job(self, client: Any, working_dir: Path, config: dict[str, Any],
                 worker_key: str, log_path: Path | None, what: str, doing: str,
                 timeout: float) -> tuple[bool, str, bool]:
        """Submit the Serve job, wait for it, keep its log; (succeeded, why not, whether the
        job reported a result)."""
        env = {"EMBER_SERVE_CONFIG": json.dumps(config), "PYTHONUNBUFFERED": "1"}
        if worker_key:
            env["EMBER_WORKER_KEY"] = worker_key
        try:
            job_id = self._submit(client, working_dir, env, doing, timeout)
        except Exception as exc:  # noqa: BLE001 - upload and submission errors are Ray's
            text = str(exc)
            if "exceeds the maximum size" in text or "413" in text:
                raise DeploymentFailedError(
                    f"{what}: its code and model are over Ray's 100 MiB limit for a job's "
                    "working_dir; deploy a smaller model or code folder") from None
            raise DeploymentFailedError(f"{what}: could not submit the Serve job ({doing}): "
                                        f"{text.splitlines()[0] if text else exc!r}") from None
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = client.get_job_status(job_id)
            if status.is_terminal():
                break
            time.sleep(POLL)
        else:
            try:
                client.stop_job(job_id)
            except Exception:  # noqa: BLE001 - the job may have ended meanwhile
                pass
        try:
            logs = str(client.get_job_logs(job_id))
        except Exception as exc:  # noqa: BLE001
            logs = f"(no log: {exc})"
        if log_path is not None:
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(f"[ember] Ray job {job_id} ({doing}) ended {status}\n{logs}\n")
        for line in reversed(logs.splitlines()):
            if line.startswith(RESULT):
                result = json.loads(line[len(RESULT):])
                return bool(result.get("ok")), str(result.get("error") or ""), True
        if status is None or not status.is_terminal():
            return False, f"the Serve job {job_id} did not end within {timeout:.0f} s", False
        last = [line for line in logs.splitlines() if line.strip()][-1:] or ["(no output)"]
        return False, f"the Serve job {job_id} ended {status} without a result: {last[0]}", \
            False
