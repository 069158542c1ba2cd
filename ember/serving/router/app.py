"""The router's ASGI application: the scoring surface, the language-model paths and the admin
surface of ``protocol.py``.

A raw ASGI callable (no framework routing): the scoring path is a handful of dictionary lookups,
one sha256, a weighted draw, a slot on the least-busy instance and one keep-alive exchange. The
language-model paths (``llm.py``) take the same steps, with OpenAI's error shape, the key also
accepted in ``api-key``, and an event-stream answer relayed as it arrives. Both meter requests
and tokens per key and apply the endpoint's rate limits, if any.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

import orjson

from ember.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from ember.serving.protocol import WORKER_KEY_HEADER, worker_key
from ember.serving.router.asgi import (
    JSON,
    ClientGone,
    ErrorShape,
    Outcome,
    Receive,
    Scope,
    Send,
    error,
    openai_error,
    read_body,
    respond,
    safe_request_id,
)
from ember.serving.router.collect import PayloadCollector
from ember.serving.router.limits import LimiterRegistry
from ember.serving.router.llm import is_model_path, parse_usage, relay, safe_target
from ember.serving.router.metrics import MetricsRegistry
from ember.serving.router.table import (
    Deployment,
    Endpoint,
    Table,
    TableError,
    compile_table,
    retire_absent,
)
from ember.serving.router.upstream import (
    BrokenResponse,
    Instance,
    Stream,
    Unreachable,
    acquire,
    exchange,
    is_live,
    pick,
    request_line,
)

log = logging.getLogger("ember.serving.router")
STALL_CHECK_S = 0.25   # how often a set-aside instance is asked whether run() is free again
_SCORE_PREFIX = b"POST /score HTTP/1.1\r\nHost: "
_Routed = tuple[Deployment, tuple[tuple[Deployment, float], ...]]   # deployment, its mirrors


class Refusal(NamedTuple):
    """A request answered by the router itself before it reached a deployment."""
    outcome: Outcome
    headers: list[tuple[bytes, bytes]] | None = None


class RouterApp:
    """Routes scoring requests by the current table; serves the admin surface."""

    def __init__(self, admin_token: str, collector: PayloadCollector | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._token = admin_token.encode("utf-8")
        # Every request to a worker carries the router's secret (workers refuse one without).
        self._worker_auth = b"".join((b"\r\n", WORKER_KEY_HEADER.encode("ascii"), b": ",
                                      worker_key(admin_token).encode("ascii")))
        self._instances: dict[str, Instance] = {}
        self._metrics = MetricsRegistry()
        self._limiters = LimiterRegistry(clock)   # the rate limits' clock
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
        parts = scope["path"].split("/")   # "", "endpoints", ws, endpoint, "score"
        if len(parts) != 5 or parts[4] != "score" or not parts[2] or not parts[3]:
            return await self._model(scope, receive, send, parts)
        received = time.perf_counter()
        auth = b""
        override: bytes | None = None
        ctype = JSON
        declared = 0
        request_id: bytes | None = None
        accept: bytes | None = None
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
            elif name == b"accept" and safe_target(value.replace(b" ", b"")):
                accept = value
        rid = request_id or str(uuid.uuid4()).encode("ascii")
        if scope["method"] != "POST":
            return await respond(send, error(405, "METHOD_NOT_ALLOWED", "use POST"), rid)
        ep = self._table.endpoints.get(f"{parts[2]}/{parts[3]}")
        if ep is None:
            return await respond(send, error(404, NotFoundError.code,
                                               f"endpoint {parts[3]} not found in workspace "
                                               f"{parts[2]}"), rid)
        key = ep.key_index(auth[7:].strip()) if auth[:7].lower() == b"bearer " else -1
        if key < 0:
            return await respond(send, error(401, "UNAUTHORIZED",
                                               "missing or invalid endpoint key"), rid)
        routed = self._route(ep, key, override, error)
        if isinstance(routed, Refusal):
            return await respond(send, routed.outcome, rid, None, routed.headers)
        dep, mirrors = routed
        try:
            body = await read_body(receive, declared)
        except ClientGone:
            return
        if body is None:
            outcome = error(413, "PAYLOAD_TOO_LARGE", "request body over 100 MiB")
        else:
            prefix = (b"POST /score?" + scope["query_string"] + b" HTTP/1.1\r\nHost: "
                      if scope["query_string"] else _SCORE_PREFIX)
            tail = b"".join((b"\r\nContent-Type: ", ctype, b"\r\nContent-Length: ",
                             str(len(body)).encode("ascii"), b"\r\nx-request-id: ", rid,
                             *((b"\r\nAccept: ", accept) if accept is not None else ()),
                             b"\r\n\r\n"))
            for mirrored, pct in mirrors:
                if mirrored is not dep and random.random() * 100.0 < pct:
                    self._spawn(self._mirror(mirrored, prefix, tail, body, received))
            sampled = (dep.collect_request or dep.collect_response) is not None and (
                random.random() < dep.sampling_rate)
            if sampled and dep.collect_request:
                self._collector.submit(dep.collect_request, rid.decode(), time.time(),
                                       ep.name, dep.name, body)
            # A client that asks for an event stream (a served flow's SSE answer) gets it
            # relayed as it arrives, as on the language-model paths.
            streamed = accept is not None and b"text/event-stream" in accept
            forwarded = await self._forward(dep, prefix, tail, body, error, streamed)
            if isinstance(forwarded, Stream):
                try:
                    status, usage = await relay(send, receive, forwarded,
                                                [(b"azureml-model-deployment", dep.name_header),
                                                 (b"x-request-id", rid)], dep.name,
                                                dep.timeout_s)
                finally:
                    forwarded.inst.release()
                dep.stats.record(status, (time.perf_counter() - received) * 1000.0)
                if usage is not None or ep.limiter is not None:
                    self._metered(ep, key, usage)
                return
            outcome = forwarded
            if sampled and dep.collect_response and outcome[3]:
                self._collector.submit(dep.collect_response, rid.decode(), time.time(),
                                       ep.name, dep.name, outcome[2],
                                       (time.perf_counter() - received) * 1000.0)
        await respond(send, outcome, rid, dep.name_header)
        dep.stats.record(outcome[0], (time.perf_counter() - received) * 1000.0)
        if outcome[4] is not None or ep.limiter is not None:
            self._metered(ep, key, outcome[4])

    def _route(self, ep: Endpoint, key: int, override: bytes | None, shape: ErrorShape
               ) -> _Routed | Refusal:
        """The deployment a request with the ``key``-th key goes to, and its mirrors; the
        request is counted against the endpoint's limits and in its usage. Else the refusal."""
        mirrors: tuple[tuple[Deployment, float], ...] = ()
        if override is not None:
            wanted = override.decode("latin-1").strip()
            dep = ep.deployments.get(wanted)
            if dep is None:
                return Refusal(shape(404, NotFoundError.code,
                                     f"deployment {wanted} not found in endpoint {ep.name}"))
        else:
            drawn = ep.draw()
            if drawn is None:
                return Refusal(shape(404, NotFoundError.code,
                                     f"endpoint {ep.name}: no deployment receives traffic"))
            dep, mirrors = drawn, ep.mirrors
        if ep.limiter is not None:
            wait, why = ep.limiter.admit()
            if wait:
                return Refusal(shape(429, "RATE_LIMIT_EXCEEDED", f"endpoint {ep.name}: over "
                                     f"its limit of {why}; retry in {wait} s"),
                               [(b"retry-after", str(wait).encode("ascii"))])
        ep.usage.request(key)
        return dep, mirrors

    def _metered(self, ep: Endpoint, key: int, usage: bytes | None) -> None:
        """Count an answer that ended: its tokens for the key, and in the endpoint's window."""
        prompt, completion = parse_usage(usage)
        if prompt or completion:
            ep.usage.tokens(key, prompt, completion)
        if ep.limiter is not None:
            ep.limiter.used(prompt + completion)

    # -- language-model paths --------------------------------------------------------------------

    async def _model(self, scope: Scope, receive: Receive, send: Send, parts: list[str]
                     ) -> None:
        """``/endpoints/<ws>/<endpoint>/{v1/..., chat/completions, completions, embeddings,
        info}``: forwarded verbatim to a language-model worker chosen as for ``/score``."""
        received = time.perf_counter()
        auth = b""
        api_key: bytes | None = None
        override: bytes | None = None
        ctype = JSON
        declared = 0
        request_id: bytes | None = None
        extra: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"api-key":
                api_key = value
            elif name == b"azureml-model-deployment":
                override = value
            elif name == b"content-type":
                ctype = value
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name == b"x-request-id" and safe_request_id(value):
                request_id = value
            elif name == b"extra-parameters":
                extra = value
        rid = request_id or str(uuid.uuid4()).encode("ascii")
        if len(parts) < 5 or not parts[2] or not parts[3] or not is_model_path(parts[4:]):
            return await respond(send, error(404, NotFoundError.code, "no route "
                                               f"{scope['path']}"), rid)
        method = scope["method"]
        if method not in ("GET", "POST"):
            return await respond(send, openai_error(405, "METHOD_NOT_ALLOWED",
                                                      "use GET or POST"), rid)
        ep = self._table.endpoints.get(f"{parts[2]}/{parts[3]}")
        if ep is None:
            return await respond(send, openai_error(404, NotFoundError.code,
                                                      f"endpoint {parts[3]} not found in "
                                                      f"workspace {parts[2]}"), rid)
        key = ep.key_index(auth[7:].strip()) if auth[:7].lower() == b"bearer " else -1
        if key < 0 and api_key is not None:
            key = ep.key_index(api_key.strip())
        if key < 0:
            return await respond(send, openai_error(401, "UNAUTHORIZED",
                                                      "missing or invalid endpoint key"), rid)
        routed = self._route(ep, key, override, openai_error)
        if isinstance(routed, Refusal):
            return await respond(send, routed.outcome, rid, None, routed.headers)
        dep, mirrors = routed
        # Sent on as the client wrote it (percent-escapes kept), unless an escaped "/" moved
        # the parts: then as decoded (safe_target refuses what is not plain ASCII).
        raw = (scope.get("raw_path") or b"").split(b"/", 4)
        if len(raw) == 5 and raw[2] == parts[2].encode() and raw[3] == parts[3].encode():
            target = b"/" + raw[4]
        else:
            target = "/".join(("", *parts[4:])).encode("utf-8")
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        try:
            body = await read_body(receive, declared)
        except ClientGone:
            return
        if body is None or not safe_target(target):
            outcome = (openai_error(413, "PAYLOAD_TOO_LARGE", "request body over 100 MiB")
                       if body is None else
                       openai_error(400, "BAD_REQUEST", "the request path is not plain ASCII"))
            await respond(send, outcome, rid, dep.name_header)
            dep.stats.record(outcome[0], (time.perf_counter() - received) * 1000.0)
            return
        prefix = method.encode("ascii") + b" " + target + b" HTTP/1.1\r\nHost: "
        tail = b"".join((b"\r\nContent-Type: ", ctype, b"\r\nContent-Length: ",
                         str(len(body)).encode("ascii"), b"\r\nx-request-id: ", rid,
                         *((b"\r\nextra-parameters: ", extra) if extra is not None else ()),
                         b"\r\n\r\n"))
        for mirrored, pct in mirrors:
            if mirrored is not dep and random.random() * 100.0 < pct:
                self._spawn(self._mirror(mirrored, prefix, tail, body, received))
        sampled = (dep.collect_request or dep.collect_response) is not None and (
            random.random() < dep.sampling_rate)
        if sampled and dep.collect_request and body:
            self._collector.submit(dep.collect_request, rid.decode(), time.time(),
                                   ep.name, dep.name, body)
        forwarded = await self._forward(dep, prefix, tail, body, openai_error, True)
        if isinstance(forwarded, Stream):
            try:
                status, usage = await relay(send, receive, forwarded,
                                            [(b"azureml-model-deployment", dep.name_header),
                                             (b"x-request-id", rid)], dep.name, dep.timeout_s)
            finally:
                forwarded.inst.release()   # the slot was held for the whole stream
            if sampled and dep.collect_response and status < 400:
                # A streamed answer is collected as its usage (the text went to the client).
                prompt, completion = parse_usage(usage)
                self._collector.submit(dep.collect_response, rid.decode(), time.time(),
                                       ep.name, dep.name, orjson.dumps({
                                           "object": "chat.completion.stream",
                                           "usage": {"prompt_tokens": prompt,
                                                     "completion_tokens": completion,
                                                     "total_tokens": prompt + completion}}),
                                       (time.perf_counter() - received) * 1000.0)
        else:
            status, usage = forwarded[0], forwarded[4]
            if sampled and dep.collect_response and forwarded[3]:
                self._collector.submit(dep.collect_response, rid.decode(), time.time(),
                                       ep.name, dep.name, forwarded[2],
                                       (time.perf_counter() - received) * 1000.0)
            await respond(send, forwarded, rid, dep.name_header)
        dep.stats.record(status, (time.perf_counter() - received) * 1000.0)
        self._metered(ep, key, usage)

    # -- forwarding ------------------------------------------------------------------------------

    async def _forward(self, dep: Deployment, prefix: bytes, tail: bytes, body: bytes,
                       shape: ErrorShape, stream: bool) -> Outcome | Stream:
        """Take a slot on an instance of ``dep`` and send it the request ``prefix`` + its
        host + ``tail`` + ``body``. With ``stream``, an event-stream answer comes back as a
        :class:`Stream` that holds the slot: the caller releases ``stream.inst`` after it."""
        loop = asyncio.get_running_loop()
        # The deployment was resolved before the body was read: take a slot on the instances
        # of the table in force now, and look again if a swap retires the ones waited on.
        queue_deadline = loop.time() + dep.queue_wait_s
        while True:
            dep = self._table.current(dep)
            instances = dep.instances
            if not instances or all(i.retired for i in instances):
                return shape(503, "NO_INSTANCE", f"deployment {dep.name} has no ready instance")
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
                    return shape(503, "NO_INSTANCE", f"deployment {dep.name}: every instance is "
                                 "busy with a request that timed out")
                return shape(429, "TOO_MANY_REQUESTS",
                             f"deployment {dep.name}: every instance has "
                             f"{instances[0].limit} requests in flight")
        deadline = loop.time() + dep.timeout_s
        tried_another = handed_over = False
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        head = request_line(inst, prefix) + inst.host_header + \
                            self._worker_auth + tail
                        reply = await exchange(inst, head, body, stream)
                    if isinstance(reply, Stream):
                        handed_over = True   # the stream holds the slot now
                        return reply
                    return reply[0], reply[1], reply[2], True, reply[3]
                except Unreachable as exc:
                    log.warning("deployment %s: %s", dep.name, exc)
                    failed, inst = inst, None
                    failed.release()
                    if tried_another or len(instances) < 2:
                        return shape(502, "BAD_GATEWAY",
                                     f"deployment {dep.name}: no instance reachable")
                    tried_another = True
                    wait = min(dep.queue_wait_s, max(0.0, deadline - loop.time()))
                    inst = await acquire(instances, dep.next_start(), wait, exclude=failed)
                    if inst is None:
                        return shape(502, "BAD_GATEWAY", f"deployment {dep.name}: instance "
                                     f"{failed.addr} unreachable and no other one free")
                    dep.picked(inst)
        except BrokenResponse as exc:
            log.warning("deployment %s: %s", dep.name, exc)
            return shape(502, "BAD_GATEWAY", f"deployment {dep.name}: {exc}")
        except TimeoutError:
            if inst is not None and inst.stall():
                self._spawn(self._watch_stalled(dep.name, inst))
            return shape(504, "REQUEST_TIMEOUT", f"deployment {dep.name} did not answer "
                         f"within {round(dep.timeout_s * 1000)} ms")
        finally:
            if inst is not None and not handed_over:
                inst.release()

    async def _mirror(self, dep: Deployment, prefix: bytes, tail: bytes, body: bytes,
                      received: float) -> None:
        try:
            forwarded = await self._forward(dep, prefix, tail, body, error, False)
            status = forwarded.status if isinstance(forwarded, Stream) else forwarded[0]
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
        await respond(send, (200, ctype, data, False, None))

    async def _put_routes(self, receive: Receive) -> Outcome:
        try:
            body = await read_body(receive, 0)
            raw = orjson.loads(body or b"")
            table = compile_table(raw, self._instances, self._metrics, self._limiters)
        except ClientGone:
            return error(400, InvalidInputError.code, "client went away")
        except (orjson.JSONDecodeError, TableError) as exc:
            return error(400, InvalidInputError.code, f"invalid route table: {exc}")
        self._table, self._raw_table = table, raw   # the swap: one reference
        retire_absent(table, self._instances)
        return 200, JSON, orjson.dumps({"endpoints": len(table.endpoints),
                                         "instances": len(self._instances)}), False, None

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
