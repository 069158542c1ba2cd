"""The Ray job that changes Ray Serve for Ember: deploy one generation's app, or delete apps.

Run as ``python _ember_serve_job.py`` by a Ray job the Ember server submits
(``ray_serve.py``), with its config as JSON in ``EMBER_SERVE_CONFIG`` and the router's secret
in ``EMBER_WORKER_KEY``. The Serve apps outlive this job (measured, design facts §7), so the
server needs only the job client, never a Ray driver of its own. Standard library and ``ray``.

It prints one line ``EMBER_SERVE_RESULT {"ok": bool, "error": str}`` and exits 0 when the app
is RUNNING (deploy) or gone (delete). A failed deploy deletes the app it started and reports
the replica's error: the last line of its traceback (the whole of it is in this job's log).

Serve's HTTP proxy is started once per cluster (``serve.start`` is a no-op when Serve runs):
bound to ``http_host``, on a port free on this node (the head: jobs' drivers run there); the
server reads the port Serve actually has from the dashboard (``/api/serve/applications/``).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

RESULT = "EMBER_SERVE_RESULT "


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _report(ok: bool, error: str = "") -> int:
    print(RESULT + json.dumps({"ok": ok, "error": error}), flush=True)
    return 0 if ok else 1


def _why(serve: Any, app: str, exc: BaseException) -> str:
    """The failed replica's error (its traceback's last line), else Serve's own message."""
    try:
        status = serve.status().applications.get(app)
    except Exception:  # noqa: BLE001 - the exception below says something still
        status = None
    messages = [d.message for d in (status.deployments.values() if status else ()) if d.message]
    if status is not None and status.message:
        messages.append(status.message)
    for message in messages:
        print(message, file=sys.stderr, flush=True)
        lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return f"{type(exc).__name__}: {exc}"


def deploy(config: dict[str, Any]) -> int:
    import ray
    from ray import serve

    host = str(config.get("http_host") or "127.0.0.1")
    serve.start(http_options={"host": host, "port": _free_port(host)})
    from _ember_serve_replica import Replica

    app = str(config["app"])
    runtime_env: dict[str, Any] = {"env_vars": dict(config.get("env_vars") or {})}
    working_dir = (ray.get_runtime_context().runtime_env or {}).get("working_dir")
    if working_dir:   # the replicas import the replica module and the user's code from it
        runtime_env["working_dir"] = working_dir
    options: dict[str, Any] = {**(config.get("actor_options") or {}), "runtime_env": runtime_env}
    deployment: Any = serve.deployment(
        Replica, name="replica", num_replicas=int(config["replicas"]),
        max_ongoing_requests=int(config.get("max_ongoing_requests") or 5),
        graceful_shutdown_timeout_s=float(config.get("graceful_shutdown_s") or 20),
        # no line per request (the router measures traffic), as a local worker
        logging_config={"enable_access_log": False},
        ray_actor_options=options)
    t0 = time.monotonic()
    try:
        serve.run(deployment.bind(config["replica"], os.environ.get("EMBER_WORKER_KEY", "")),
                  name=app, route_prefix=f"/{app}", blocking=False)
    except Exception as exc:  # noqa: BLE001 - reported to the server, then cleaned up
        why = _why(serve, app, exc)
        try:
            serve.delete(app)
        except Exception as cleanup:  # noqa: BLE001
            print(f"could not delete the failed app {app}: {cleanup}", file=sys.stderr)
        return _report(False, why)
    print(f"app {app} running after {time.monotonic() - t0:.1f} s", flush=True)
    return _report(True)


def delete(config: dict[str, Any]) -> int:
    from ray import serve

    try:
        running = set(serve.status().applications)
    except Exception as exc:  # noqa: BLE001 - no Serve on the cluster: nothing to delete
        print(f"Serve does not run here ({type(exc).__name__}: {exc})", flush=True)
        return _report(True)
    for app in config.get("apps") or []:
        if app in running:
            serve.delete(app)
            print(f"deleted app {app}", flush=True)
    return _report(True)


def main() -> int:
    config = json.loads(os.environ["EMBER_SERVE_CONFIG"])
    action = config.get("action")
    if action == "deploy":
        return deploy(config)
    if action == "delete":
        return delete(config)
    return _report(False, f"unknown action {action!r}")


if __name__ == "__main__":
    sys.exit(main())
