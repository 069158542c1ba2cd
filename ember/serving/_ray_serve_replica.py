"""One Ray Serve replica of an online deployment: the local worker's own scorer behind Serve.

Shipped, with the worker's files under ``_ember/`` and the deployment's ``code/`` and
``model/``, in the working_dir of the Ray job that deploys it (``_ray_serve_job.py``); it runs
on the cluster's Python, where Ember need not be installed: the standard library, ``ray`` and
``starlette`` (part of ``ray[serve]``) only. Scoring is the worker's (``worker.load_scorer``,
``_worker_scoring``): the same ``init()``/``run()`` calls, MLflow payloads, result encoding and
400/500 answers as a local worker (``protocol.py``, "Worker HTTP surface").

Serve's HTTP proxy is reachable on the network, so every route but liveness and readiness needs
the router's secret (``x-ember-worker-key``), exactly as a local worker does.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER_KEY_HEADER = "x-ember-worker-key"
JSON = "application/json"


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def local_config(config: dict[str, Any]) -> dict[str, Any]:
    """The worker config with its paths (relative to the working_dir) made absolute here."""
    out = dict(config)
    for key in ("code_dir", "model_dir", "model_path"):
        if out.get(key):
            out[key] = str(HERE / out[key])
    return out


class Replica:
    """A Serve deployment class: ``__init__`` loads the model (what fails here fails the app,
    with the error's traceback in Serve's status), ``__call__`` answers the worker's routes under
    the app's route prefix."""

    def __init__(self, config: dict[str, Any], worker_key: str) -> None:
        worker = _load("_ember_worker", HERE / "_ember" / "worker.py")
        self.config = local_config(config)
        self.prefix = str(config.get("route_prefix") or "").rstrip("/")
        worker.apply_environment(self.config)
        self.worker = worker
        self.scoring = sys.modules["_worker_scoring"]   # loaded by the worker, by path
        self.scorer = worker.load_scorer(self.config)
        self.key = worker_key.encode()
        timeout = config.get("request_timeout_ms")
        self.stuck_after = int(timeout) / 1000.0 if timeout else None
        self.started = time.time()

    def _stuck(self) -> str | None:
        """As the worker's liveness: a run() held past the request timeout blocks every call."""
        return self.worker.stuck_reason(self.scorer, self.stuck_after)  # type: ignore[no-any-return]

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import Response

        def error(status: int, code: str, message: str) -> Response:
            return Response(json.dumps({"error_code": code, "message": message}).encode(),
                            status_code=status, media_type=JSON)

        path = request.url.path
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):]
        path = path or "/"
        method = request.method
        if method == "GET" and path == "/":
            stuck = self._stuck()
            return Response(b'{"status": "alive"}', media_type=JSON) if stuck is None \
                else error(503, "STUCK", stuck)
        if method == "GET" and path == "/ready":
            return Response(b'{"ready": true}', media_type=JSON)
        given = (request.headers.get(WORKER_KEY_HEADER) or "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, self.key):
            return error(401, "UNAUTHORIZED", "call the endpoint through the router, with its key")
        if path != "/score":
            return error(404, "NOT_FOUND", f"no route {path}")
        if method != "POST":
            return error(405, "METHOD_NOT_ALLOWED", "use POST /score")
        body = await request.body()
        try:
            # In a thread: Serve's event loop keeps answering liveness while run() works.
            result = await asyncio.to_thread(self.scorer, body)
            payload, content_type = self.scoring.encode_result(result)
        except self.scoring.BadRequest as exc:
            return error(400, "BAD_REQUEST", str(exc))
        except Exception as exc:  # noqa: BLE001 - the user-code boundary, as in the worker
            traceback.print_exc(file=sys.stderr)
            return error(500, "USER_ERROR", f"{type(exc).__name__}: {exc}")
        return Response(payload, media_type=content_type)
