"""The router's ASGI application: the scoring surface and the admin surface of ``protocol.py``.

A raw ASGI callable (no framework routing): the scoring path is a handful of dictionary lookups,
one sha256, a weighted draw, a slot on the least-busy instance and one keep-alive exchange.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from ember.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from ember.serving.router.asgi import (
    JSON,
    ClientGone,
    Outcome,
    Receive,
    Scope,
    Send,
    error,
    read_body,
    respond,
    safe_request_id,
)
from ember.serving.router.collect import PayloadCollector
from ember.serving.router.metrics import MetricsRegistry
from ember.serving.router.table import (
    Deployment,
    Table,
    TableError,
    compile_table,
    retire_absent,
)
from ember.serving.router.upstream import (
    BrokenResponse,
    Instance,
    Unreachable,
    acquire,
    exchange,
    is_live,
    pick,
)

log = logging.getLogger("ember.serving.router")
STALL_CHECK_S = 0.25   # how often a set-aside instance is asked whether run() is free again


class RouterApp:
    """Routes scoring requests by the current table; serves the admin surface."""

    def __init__(self, admin_token: str, collector: PayloadCollector | None = None) -> None:
        self._token = admin_token.encode("utf-8")
        self._instances: dict[str, Instance] = {}
        self._metrics = MetricsRegistry()
        self._table = Table({})
        self._raw_table: Any = {"endpoints": {}}
        self._background: set[asyncio.Task[None]] = set()
        self._collector = collector or PayloadCollector()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/endpoints/"):
                await self._score(scope, receive, send)
            elif path.startswith("/-/"):
                await self._admin(scope, receive, send)
            else:
                await respond(send, error(404, NotFoundError.code, f"no route {path}"))
        elif kind == "lifespan":   # served with lifespan="off"; answered for other servers
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})

    # -- scoring ---------------------------------------------------------------------------------

    async def _score(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = time.perf_counter()
        auth = b""
        override: bytes | None = None
        ctype = JSON
        declared = 0
        request_id: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"azureml-model-deployment":
                override = value
            elif name == b"content-type":
                ctype = value
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name == b"x-request-id" and safe_request_id(value):
                request_id = value
        rid = request_id or str(uuid.uuid4()).encode("ascii")
        parts = scope["path"].split("/")   # "", "endpoints", ws, endpoint, "score"
        if len(parts) != 5 or parts[4] != "score" or not parts[2] or not parts[3]:
            return await respond(send, error(404, NotFoundError.code, "no route "
                                               f"{scope['path']}"), rid)
        if scope["method"] != "POST":
            return await respond(send, error(405, "METHOD_NOT_ALLOWED", "use POST"), rid)
        ep = self._table.endpoints.get(f"{parts[2]}/{parts[3]}")
        if ep is None:
            return await respond(send, error(404, NotFoundError.code,
                                               f"endpoint {parts[3]} not found in workspace "
                                               f"{parts[2]}"), rid)
        if auth[:7].lower() != b"bearer " or not ep.key_matches(auth[7:].strip()):
            return await respond(send, error(401, "UNAUTHORIZED",
                                               "missing or invalid endpoint key"), rid)
        mirrors: tuple[tuple[Deployment, float], ...] = ()
        if override is not None:
            wanted = override.decode("latin-1").strip()
            dep = ep.deployments.get(wanted)
            if dep is None:
                return await respond(send, error(404, NotFoundError.code,
                                                   f"deployment {wanted} not found in endpoint "
                                                   f"{ep.name}"), rid)
        else:
            drawn = ep.draw()
            if drawn is None:
                return await respond(send, error(404, NotFoundError.code,
                                                   f"endpoint {ep.name}: no deployment receives "
                                                   "traffic"), rid)
            dep, mirrors = drawn, ep.mirrors
        try:
            body = await read_body(receive, declared)
        except ClientGone:
            return
        if body is None:
            outcome = error(413, "PAYLOAD_TOO_LARGE", "request body over 100 MiB")
        else:
            target = b"/score?" + scope["query_string"] if scope["query_string"] else b"/score"
            for mirrored, pct in mirrors:
                if mirrored is not dep and random.random() * 100.0 < pct:
                    self._spawn(self._mirror(mirrored, target, body, ctype, rid, received))
            sampled = (dep.collect_request or dep.collect_response) is not None and (
                random.random() < dep.sampling_rate)
            if sampled and dep.collect_request:
                self._collector.submit(dep.collect_request, rid.decode(), time.time(),
                                       ep.name, dep.name, body)
            outcome = await self._forward(dep, target, body, ctype, rid)
            if sampled and dep.collect_response and outcome[3]:
                self._collector.submit(dep.collect_response, rid.decode(), time.time(),
                                       ep.name, dep.name, outcome[2])
        await respond(send, outcome, rid, dep.name_header)
        dep.stats.record(outcome[0], (time.perf_counter() - received) * 1000.0)

    async def _forward(self, dep: Deployment, target: bytes, body: bytes, ctype: bytes,
                       rid: bytes) -> Outcome:
        loop = asyncio.get_running_loop()
        # The deployment was resolved before the body was read: take a slot on the instances
        # of the table in force now, and look again if a swap retires the ones waited on.
        queue_deadline = loop.time() + dep.queue_wait_s
        while True:
            dep = self._table.current(dep)
            instances = dep.instances
            if not instances or all(i.retired for i in instances):
                return error(503, "NO_INSTANCE", f"deployment {dep.name} has no ready instance")
            start = dep.next_start()
            inst = pick(instances, start)
            if inst is None:
                inst = await acquire(instances, start, queue_deadline - loop.time())
            if inst is not None:
                dep.picked(inst)
                break
            swapped = self._table.current(dep) is not dep or any(i.retired for i in instances)
            if loop.time() >= queue_deadline or not swapped:
                if all(i.stalled or i.retired for i in instances):
                    return error(503, "NO_INSTANCE", f"deployment {dep.name}: every instance is "
                                  "busy with a request that timed out")
                return error(429, "TOO_MANY_REQUESTS",
                              f"deployment {dep.name}: every instance has "
                              f"{instances[0].limit} requests in flight")
        prefix = b"POST " + target + b" HTTP/1.1\r\nHost: "
        tail = b"".join((b"\r\nContent-Type: ", ctype, b"\r\nContent-Length: ",
                         str(len(body)).encode("ascii"), b"\r\nx-request-id: ", rid,
                         b"\r\n\r\n"))
        deadline = loop.time() + dep.timeout_s
        tried_another = False
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        status, rtype, data = await exchange(
                            inst, prefix + inst.host_header + tail, body)
                    return status, rtype, data, True
                except Unreachable as exc:
                    log.warning("deployment %s: %s", dep.name, exc)
                    failed, inst = inst, None
                    failed.release()
                    if tried_another or len(instances) < 2:
                        return error(502, "BAD_GATEWAY",
                                      f"deployment {dep.name}: no instance reachable")
                    tried_another = True
                    wait = min(dep.queue_wait_s, max(0.0, deadline - loop.time()))
                    inst = await acquire(instances, dep.next_start(), wait, exclude=failed)
                    if inst is None:
                        return error(502, "BAD_GATEWAY", f"deployment {dep.name}: instance "
                                      f"{failed.addr} unreachable and no other one free")
                    dep.picked(inst)
        except BrokenResponse as exc:
            log.warning("deployment %s: %s", dep.name, exc)
            return error(502, "BAD_GATEWAY", f"deployment {dep.name}: {exc}")
        except TimeoutError:
            if inst is not None and inst.stall():
                self._spawn(self._watch_stalled(dep.name, inst))
            return error(504, "REQUEST_TIMEOUT", f"deployment {dep.name} did not answer "
                          f"within {round(dep.timeout_s * 1000)} ms")
        finally:
            if inst is not None:
                inst.release()

    async def _mirror(self, dep: Deployment, target: bytes, body: bytes, ctype: bytes,
                      rid: bytes, received: float) -> None:
        try:
            status = (await self._forward(dep, target, body, ctype, rid))[0]
        except Exception:   # a mirror must never surface; count it as a failure
            log.exception("mirror to deployment %s failed", dep.name)
            status = 500
        dep.stats.record(status, (time.perf_counter() - received) * 1000.0)

    async def _watch_stalled(self, deployment: str, inst: Instance) -> None:
        """A request to ``inst`` timed out: with a scoring script's one-call-at-a-time rule, a
        run() that never returns would make every later request on it time out too. Keep it
        aside until its liveness answer says run() can be entered again; the supervisor
        replaces a worker that stays stuck (the table then drops it, and this ends)."""
        log.warning("deployment %s: %s timed out; no request goes to it until it is live",
                    deployment, inst.addr)
        while inst.stalled and not inst.retired:
            await asyncio.sleep(STALL_CHECK_S)
            if await is_live(inst):
                inst.unstall()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)   # a reference, or the task may be collected mid-flight
        task.add_done_callback(self._background.discard)

    # -- admin -----------------------------------------------------------------------------------

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = b""
        for name, value in scope["headers"]:
            if name == b"x-ember-admin":
                token = value
        if not hmac.compare_digest(token, self._token):
            return await respond(send, error(403, PermissionDeniedError.code,
                                               "admin routes need the X-Ember-Admin token"))
        path, method = scope["path"], scope["method"]
        text = b"text/plain; version=0.0.4; charset=utf-8"
        if path == "/-/routes" and method == "PUT":
            return await respond(send, await self._put_routes(receive))
        views: dict[str, Callable[[], tuple[bytes, bytes]]] = {
            "/-/routes": lambda: (JSON, orjson.dumps(self._raw_table)),
            "/-/inflight": lambda: (JSON, orjson.dumps(self.inflight())),
            "/-/metrics": lambda: (JSON, orjson.dumps(self._metrics.to_json())),
            "/-/metrics/prometheus": lambda: (
                text, self._metrics.to_prometheus(self.inflight()).encode("utf-8")),
            "/-/health": lambda: (JSON, b'{"status":"ok"}'),
        }
        view = views.get(path)
        if view is None:
            return await respond(send, error(404, NotFoundError.code, f"no route {path}"))
        if method != "GET":
            return await respond(send, error(405, "METHOD_NOT_ALLOWED", f"{path}: use GET"))
        ctype, data = view()
        await respond(send, (200, ctype, data, False))

    async def _put_routes(self, receive: Receive) -> Outcome:
        try:
            body = await read_body(receive, 0)
            raw = orjson.loads(body or b"")
            table = compile_table(raw, self._instances, self._metrics)
        except ClientGone:
            return error(400, InvalidInputError.code, "client went away")
        except (orjson.JSONDecodeError, TableError) as exc:
            return error(400, InvalidInputError.code, f"invalid route table: {exc}")
        self._table, self._raw_table = table, raw   # the swap: one reference
        retire_absent(table, self._instances)
        return 200, JSON, orjson.dumps({"endpoints": len(table.endpoints),
                                         "instances": len(self._instances)}), False

    def inflight(self) -> dict[str, int]:
        """In-flight requests per instance, including retired ones still finishing."""
        for addr, inst in list(self._instances.items()):
            if inst.retired and inst.in_flight == 0:
                del self._instances[addr]
        return {addr: inst.in_flight for addr, inst in self._instances.items()}

    async def aclose(self, timeout: float = 10.0) -> None:
        """After the server stopped: let mirrors finish, close pools, flush collected payloads."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)
        for inst in self._instances.values():
            inst.close_idle()
        await asyncio.get_running_loop().run_in_executor(None, self._collector.close, timeout)
