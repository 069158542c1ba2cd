"""The endpoint router as a real subprocess, in front of real HTTP/1.1 upstream "workers".

The workers are stdlib ThreadingHTTPServers started here: each answers ``POST /score`` with the
name of the instance that answered, and can be told to sleep or to fail. Tables are pushed over
real HTTP to ``PUT /-/routes``, as the control plane does.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN = "router-admin-token"
KEY1, KEY2 = "primary-key-0123456789", "secondary-key-9876543210"
AUTH = {"Authorization": f"Bearer {KEY1}"}


# -- upstream workers ------------------------------------------------------------------------

class Upstream:
    """A worker stand-in: POST /score → {"instance": name, "echo": <body text>}."""

    def __init__(self, name: str, *, delay: float = 0.0, status: int = 200,
                 content_type: str = "application/json") -> None:
        self.name = name
        self.delay = delay
        self.status = status
        self.content_type = content_type
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []   # the request target of each POST
        self.active = 0
        self.peak = 0
        self.drop_next = False   # read the next request, then close without answering
        self.gate: threading.Event | None = None   # when set: answer only once it opens
        self.live = True                           # GET / (liveness): 200, else 503
        self.connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with upstream._lock:
                    upstream.connections.add(self.connection)

            def finish(self) -> None:
                with upstream._lock:
                    upstream.connections.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                status = 200 if upstream.live and self.path == "/" else 503
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with upstream._lock:
                    upstream.received.append(({k.lower(): v for k, v in self.headers.items()},
                                              body))
                    upstream.paths.append(self.path)
                    if upstream.drop_next:
                        upstream.drop_next = False
                        self.close_connection = True
                        return
                    upstream.active += 1
                    upstream.peak = max(upstream.peak, upstream.active)
                try:
                    if upstream.gate is not None:
                        upstream.gate.wait(30)
                    if upstream.delay:
                        time.sleep(upstream.delay)
                    payload = json.dumps({"instance": upstream.name,
                                          "echo": body.decode()}).encode()
                    head = (f"HTTP/1.1 {upstream.status} X\r\nContent-Type: "
                            f"{upstream.content_type}\r\nContent-Length: {len(payload)}\r\n\r\n")
                    self.wfile.write(head.encode() + payload)   # one write, like a real worker
                finally:
                    with upstream._lock:
                        upstream.active -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop listening and cut the open keep-alive connections: a dead worker."""
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def upstream() -> Iterator[Callable[..., Upstream]]:
    made: list[Upstream] = []

    def make(name: str, **kw: Any) -> Upstream:
        made.append(Upstream(name, **kw))
        return made[-1]

    yield make
    for up in made:
        up.close()


def dead_addr() -> str:
    """A loopback port with nothing listening (connect is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# -- the router process ----------------------------------------------------------------------

class RouterProc:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port_file = folder / "router.port"
        self.log_path = folder / "router.log"
        env = {**os.environ, "EMBER_ROUTER_TOKEN": ADMIN,
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ember.serving.router", "--host", "127.0.0.1",
                 "--port", "0", "--port-file", str(self.port_file)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"router did not start: {self.log_path.read_text()}")
            time.sleep(0.02)
        self.port = int(self.port_file.read_text())
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = httpx.Client(base_url=self.url, headers={"X-Ember-Admin": ADMIN},
                                  timeout=30)

    def put_routes(self, endpoints: dict[str, Any]) -> None:
        resp = self.admin.put("/-/routes", json={"endpoints": endpoints})
        assert resp.status_code == 200, resp.text

    def get(self, path: str) -> Any:
        resp = self.admin.get(path)
        assert resp.status_code == 200, resp.text
        return resp.json() if "json" in resp.headers["content-type"] else resp.text

    def stop(self) -> int:
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProc]:
    proc = RouterProc(tmp_path_factory.mktemp("router"))
    yield proc
    assert proc.stop() == 0
    assert KEY1 not in proc.log_path.read_text()


@pytest.fixture
def client(router: RouterProc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=router.url, timeout=30) as c:
        yield c


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def deployment(*addrs: str, **settings: Any) -> dict[str, Any]:
    route: dict[str, Any] = {"instances": list(addrs), "max_concurrent_requests_per_instance": 32,
                             "request_timeout_ms": 5000, "max_queue_wait_ms": 500,
                             "collect_request": None, "collect_response": None,
                             "sampling_rate": 1.0}
    route.update(settings)
    return route


def endpoint(deployments: dict[str, Any], traffic: dict[str, int],
             mirror: dict[str, int] | None = None) -> dict[str, Any]:
    return {"key_hashes": [sha(KEY1), sha(KEY2)], "traffic": traffic,
            "mirror_traffic": mirror or {}, "deployments": deployments}


def score(client: httpx.Client, ep: str, payload: Any = None, **headers: str) -> httpx.Response:
    return client.post(f"/endpoints/ws/{ep}/score", json=payload or {"input_data": [[1, 2]]},
                       headers={**AUTH, **headers})


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# -- keys, endpoints, deployments ------------------------------------------------------------

def test_keys(router: RouterProc, client: httpx.Client, upstream: Callable[..., Upstream]
              ) -> None:
    blue = upstream("blue")
    router.put_routes({"ws/keys": endpoint({"blue": deployment(blue.addr)}, {"blue": 100})})
    url = "/endpoints/ws/keys/score"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY1},
                    {"Authorization": f"Basic {KEY1}"}):
        resp = client.post(url, json={}, headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error_code"] == "UNAUTHORIZED"
    for key in (KEY1, KEY2):
        resp = client.post(url, json={}, headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200 and resp.json()["instance"] == "blue"
    assert "authorization" not in blue.received[0][0]   # keys stay at the router
    metrics = router.get("/-/metrics")["ws/keys"]["blue"]
    assert metrics["request_count"] == 2 and metrics["status_counts"] == {"200": 2}


def test_unknown_endpoint_and_deployment(router: RouterProc, client: httpx.Client,
                                         upstream: Callable[..., Upstream]) -> None:
    blue = upstream("blue")
    router.put_routes({
        "ws/known": endpoint({"blue": deployment(blue.addr)}, {"blue": 100}),
        "ws/dark": endpoint({"blue": deployment(blue.addr)}, {"blue": 0}),
    })
    resp = score(client, "nope")
    assert resp.status_code == 404 and resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert client.post("/endpoints/other/known/score", headers=AUTH).status_code == 404
    resp = score(client, "known", **{"azureml-model-deployment": "purple"})
    assert resp.status_code == 404 and "purple" in resp.json()["message"]
    resp = score(client, "dark")
    assert resp.status_code == 404 and "no deployment receives traffic" in resp.json()["message"]
    # The header still reaches a deployment that gets no traffic share.
    resp = score(client, "dark", **{"azureml-model-deployment": "blue"})
    assert resp.status_code == 200


def test_header_override_bypasses_weights_and_mirroring(
        router: RouterProc, client: httpx.Client, upstream: Callable[..., Upstream]) -> None:
    blue, green, shadow = upstream("blue"), upstream("green"), upstream("shadow")
    router.put_routes({"ws/override": endpoint(
        {"blue": deployment(blue.addr), "green": deployment(green.addr),
         "shadow": deployment(shadow.addr)},
        {"blue": 100, "green": 0}, {"shadow": 100})})
    for _ in range(10):
        resp = score(client, "override", **{"azureml-model-deployment": "green"})
        assert resp.status_code == 200 and resp.json()["instance"] == "green"
        assert resp.headers["azureml-model-deployment"] == "green"
    resp = score(client, "override")
    assert resp.json()["instance"] == "blue"
    assert resp.headers["azureml-model-deployment"] == "blue"
    wait_for(lambda: len(shadow.received) == 1)   # only the request without the header
    time.sleep(0.2)
    assert len(shadow.received) == 1


def test_an_instance_with_a_path_is_sent_requests_under_it(
        router: RouterProc, client: httpx.Client, upstream: Callable[..., Upstream]) -> None:
    """A Ray Serve app's replicas (``host:port/<app>#<n>``): requests go to ``/<app>/...`` on
    Serve's proxy, with the proxy's own Host; each ``#<n>`` is an instance with its slots."""
    proxy = upstream("proxy")
    addrs = [f"{proxy.addr}/ember-ws-e-d-g1#{i}" for i in range(2)]
    router.put_routes({"ws/pathed": endpoint(
        {"d": deployment(*addrs, max_concurrent_requests_per_instance=1,
                         max_queue_wait_ms=0)}, {"d": 100})})
    resp = client.post("/endpoints/ws/pathed/score?verbose=1", json={}, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["instance"] == "proxy"
    assert proxy.paths == ["/ember-ws-e-d-g1/score?verbose=1"]
    assert proxy.received[0][0]["host"] == proxy.addr
    proxy.gate = threading.Event()   # two replicas, one slot each: a third request is refused
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(score, client, "pathed") for _ in range(2)]
        wait_for(lambda: proxy.active == 2)
        assert score(client, "pathed").status_code == 429
        proxy.gate.set()
        assert [f.result().status_code for f in held] == [200, 200]
    for bad in (f"{proxy.addr}/#0", f"{proxy.addr}/a b#0", f"{proxy.addr}/a?b#0"):
        resp = router.admin.put("/-/routes", json={"endpoints": {"ws/bad": endpoint(
            {"d": deployment(bad)}, {"d": 100})}})
        assert resp.status_code == 400, bad


def test_traffic_split_90_10(router: RouterProc, client: httpx.Client,
                             upstream: Callable[..., Upstream]) -> None:
    blue, green = upstream("blue"), upstream("green")
    router.put_routes({"ws/split": endpoint(
        {"blue": deployment(blue.addr), "green": deployment(green.addr)},
        {"blue": 90, "green": 10})})
    seen: Counter[str] = Counter()
    for _ in range(1000):
        resp = score(client, "split")
        assert resp.status_code == 200
        assert resp.headers["azureml-model-deployment"] == resp.json()["instance"]
        seen[resp.json()["instance"]] += 1
    # Binomial(1000, 0.1): sd 9.5, so ±50 is more than 5 sd.
    assert 50 <= seen["green"] <= 150, seen
    assert seen["blue"] + seen["green"] == 1000


def test_mirror_traffic_is_background_only(router: RouterProc, client: httpx.Client,
                                           upstream: Callable[..., Upstream]) -> None:
    blue = upstream("blue")
    shadow = upstream("shadow", status=500)   # failing, and held: must not matter
    shadow.gate = threading.Event()
    router.put_routes({"ws/mirror": endpoint(
        {"blue": deployment(blue.addr), "shadow": deployment(
            shadow.addr, max_concurrent_requests_per_instance=32), "empty": deployment()},
        {"blue": 100}, {"shadow": 100, "empty": 100})})
    for i in range(20):   # every answer comes while no mirrored copy has been answered
        resp = score(client, "mirror", {"n": i})
        assert resp.status_code == 200 and resp.json()["instance"] == "blue"
    wait_for(lambda: len(shadow.received) == 20)
    assert router.get("/-/metrics")["ws/mirror"]["shadow"]["request_count"] == 0
    shadow.gate.set()
    assert sorted(json.loads(body)["n"] for _, body in shadow.received) == list(range(20))
    ids = {headers["x-request-id"] for headers, _ in blue.received}
    assert {headers["x-request-id"] for headers, _ in shadow.received} == ids

    def counted() -> bool:
        m = router.get("/-/metrics")["ws/mirror"]
        return m["shadow"]["request_count"] == 20 and m["empty"]["request_count"] == 20
    wait_for(counted)
    metrics = router.get("/-/metrics")["ws/mirror"]
    assert metrics["shadow"]["status_counts"] == {"500": 20}
    assert metrics["empty"]["status_counts"] == {"503": 20}
    assert metrics["blue"]["status_counts"] == {"200": 20} and metrics["blue"]["error_count"] == 0


# -- request settings ------------------------------------------------------------------------

def _concurrent(client: httpx.Client, ep: str, n: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: score(client, ep, {"n": i}), range(n)))


def test_concurrency_limit_gives_429(router: RouterProc, client: httpx.Client,
                                     upstream: Callable[..., Upstream]) -> None:
    slow = upstream("slow", delay=1.0)
    router.put_routes({"ws/busy": endpoint({"d": deployment(
        slow.addr, max_concurrent_requests_per_instance=1, max_queue_wait_ms=100)}, {"d": 100})})
    statuses = Counter(r.status_code for r in _concurrent(client, "busy", 4))
    assert statuses == {200: 1, 429: 3}
    assert slow.peak == 1
    rejected = [r for r in _concurrent(client, "busy", 2) if r.status_code == 429]
    assert rejected[0].json()["error_code"] == "TOO_MANY_REQUESTS"
    assert rejected[0].headers["azureml-model-deployment"] == "d"


def test_queue_wait_serves_in_turn(router: RouterProc, client: httpx.Client,
                                   upstream: Callable[..., Upstream]) -> None:
    slow = upstream("slow", delay=0.2)
    router.put_routes({"ws/queue": endpoint({"d": deployment(
        slow.addr, max_concurrent_requests_per_instance=1, max_queue_wait_ms=5000)},
        {"d": 100})})
    assert [r.status_code for r in _concurrent(client, "queue", 4)] == [200] * 4
    assert slow.peak == 1


def test_timeout_gives_504_and_drops_the_connection(
        router: RouterProc, client: httpx.Client, upstream: Callable[..., Upstream]) -> None:
    slow = upstream("slow", delay=1.5)
    router.put_routes({"ws/timeout": endpoint({"d": deployment(
        slow.addr, request_timeout_ms=300)}, {"d": 100})})
    resp = score(client, "timeout")   # a 200 would mean the router waited the full 1.5 s
    assert resp.status_code == 504 and resp.json()["error_code"] == "REQUEST_TIMEOUT"
    assert router.get("/-/inflight")[slow.addr] == 0
    slow.delay = 0
    time.sleep(1.6)   # the stale answer arrives on the dropped connection, not on a later one
    resp = score(client, "timeout", {"after": True})
    assert resp.status_code == 200 and json.loads(resp.json()["echo"]) == {"after": True}


def test_a_timed_out_instance_gets_nothing_until_it_is_live_again(
        router: RouterProc, client: httpx.Client, upstream: Callable[..., Upstream]) -> None:
    """A worker whose run() never returns: after its 504 the router sends it nothing (every
    request goes to the other instance) until its liveness route answers 200 again; alone, it
    makes requests fail fast with 503 instead of each waiting for its own 504."""
    stuck, other = upstream("stuck"), upstream("other")
    stuck.gate, stuck.live = threading.Event(), False
    settings = {"request_timeout_ms": 300, "max_concurrent_requests_per_instance": 1,
                "max_queue_wait_ms": 100}
    router.put_routes({
        "ws/pair": endpoint({"d": deployment(stuck.addr, other.addr, **settings)}, {"d": 100}),
        "ws/alone": endpoint({"d": deployment(stuck.addr, **settings)}, {"d": 100})})
    # The first goes to "stuck" (listed first: a fresh table starts there) and times out; set
    # aside, it leaves the second to "other".
    codes = [score(client, "pair").status_code for _ in range(2)]
    assert sorted(codes) == [200, 504]
    for i in range(20):
        resp = score(client, "pair", {"n": i})
        assert resp.status_code == 200 and resp.json()["instance"] == "other"
    received_by_other = len(other.received)
    alone = score(client, "alone")
    assert alone.status_code == 503 and "timed out" in alone.json()["message"]
    stuck.gate.set()
    stuck.live = True
    wait_for(lambda: score(client, "alone").status_code == 200)
    # Back in the pair: while "other" (the warm one, which ties go to) holds a request, the
    # next one goes to "stuck".
    other.gate = threading.Event()
    held = concurrent.futures.ThreadPoolExecutor(1).submit(score, client, "pair")
    wait_for(lambda: len(other.received) > received_by_other)
    resp = score(client, "pair")
    other.gate.set()
    assert resp.status_code == 200 and resp.json()["instance"] == "stuck"
    assert held.result(timeout=10).json()["instance"] == "other"


def test_unreachable_instance_fails_over_then_502(
        router: RouterProc, client: httpx.Client, upstream: Callable[..., Upstream]) -> None:
    live = upstream("live")
    down = dead_addr()
    router.put_routes({
        "ws/failover": endpoint({"d": deployment(down, live.addr)}, {"d": 100}),
        "ws/down": endpoint({"d": deployment(down)}, {"d": 100}),
    })
    for _ in range(20):
        resp = score(client, "failover")
        assert resp.status_code == 200 and resp.json()["instance"] == "live"
    resp = score(client, "down")
    assert resp.status_code == 502 and resp.json()["error_code"] == "BAD_GATEWAY"
    # A pooled connection the worker closes instead of answering: sent again on a fresh one.
    live.drop_next = True
    before = len(live.received)
    resp = score(client, "failover", {"again": 1})
    assert resp.status_code == 200 and resp.json()["instance"] == "live"
    assert [json.loads(b) for _, b in live.received[before:]] == [{"again": 1}] * 2
    # A worker that dies between requests leaves dead pooled connections: skipped, not 502.
    live.close()
    revived = upstream("revived")
    router.put_routes({"ws/failover": endpoint({"d": deployment(live.addr, revived.addr)},
                                               {"d": 100})})
    for _ in range(10):
        resp = score(client, "failover")
        assert resp.status_code == 200 and resp.json()["instance"] == "revived"


def test_no_instance_gives_503(router: RouterProc, client: httpx.Client) -> None:
    router.put_routes({"ws/empty": endpoint({"d": deployment()}, {"d": 100})})
    resp = score(client, "empty")
    assert resp.status_code == 503
    assert resp.json() == {"error_code": "NO_INSTANCE",
                           "message": "deployment d has no ready instance"}


def test_large_bodies_pass_through(router: RouterProc, client: httpx.Client,
                                   upstream: Callable[..., Upstream]) -> None:
    blue = upstream("blue")
    router.put_routes({"ws/large": endpoint({"d": deployment(blue.addr)}, {"d": 100})})
    payload = {"input_data": ["x" * 3_000_000]}
    for _ in range(2):   # the second one on the pooled connection
        resp = score(client, "large", payload)
        assert resp.status_code == 200 and json.loads(resp.json()["echo"]) == payload


def test_body_limit_413(router: RouterProc) -> None:
    router.put_routes({"ws/big": endpoint({"d": deployment()}, {"d": 100})})
    with socket.create_connection(("127.0.0.1", router.port)) as sock:
        sock.sendall(b"POST /endpoints/ws/big/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + KEY1.encode() + b"\r\nContent-Length: 104857601\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")


# -- table swaps and in-flight accounting ----------------------------------------------------

@pytest.mark.parametrize("shape", ["overlapping", "disjoint-queued"])
def test_table_swap_under_load_loses_no_request(
        router: RouterProc, upstream: Callable[..., Upstream], shape: str) -> None:
    ups = [upstream(f"u{i}", delay=0.005) for i in range(4)]
    if shape == "overlapping":   # each table keeps one instance of the previous one
        tables = [{"ws/swap": endpoint({"d": deployment(ups[i].addr, ups[(i + 1) % 4].addr)},
                                       {"d": 100})} for i in range(4)]
    else:   # no instance in common, and requests queue for the one slot: the wait moves over
        tables = [{"ws/swap": endpoint({"d": deployment(
            ups[i].addr, max_concurrent_requests_per_instance=1, max_queue_wait_ms=10000)},
            {"d": 100})} for i in range(4)]
    router.put_routes(tables[0])
    stop = threading.Event()
    results: list[tuple[int, str]] = []

    def hammer() -> None:
        with httpx.Client(base_url=router.url, timeout=30) as c:
            while not stop.is_set():
                resp = score(c, "swap")
                results.append((resp.status_code, resp.text))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for turn in range(40):
        time.sleep(0.05)
        router.put_routes(tables[turn % 4])
    stop.set()
    for t in threads:
        t.join()
    assert len(results) > 100
    assert [r for r in results if r[0] != 200] == []
    assert sum(len(u.received) for u in ups) == len(results)
    if shape != "overlapping":
        assert max(u.peak for u in ups) == 1
    wait_for(lambda: all(n == 0 for n in router.get("/-/inflight").values()))


def test_inflight_keeps_instances_that_left_the_table(
        router: RouterProc, client: httpx.Client, upstream: Callable[..., Upstream]) -> None:
    old, new = upstream("old", delay=1.0), upstream("new")
    router.put_routes({"ws/drain": endpoint({"d": deployment(old.addr)}, {"d": 100})})
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(score, client, "drain")
        wait_for(lambda: router.get("/-/inflight").get(old.addr) == 1)
        router.put_routes({"ws/drain": endpoint({"d": deployment(new.addr)}, {"d": 100})})
        assert router.get("/-/inflight") == {old.addr: 1, new.addr: 0}
        assert score(client, "drain").json()["instance"] == "new"
        resp = pending.result()
    assert resp.status_code == 200 and resp.json()["instance"] == "old"
    assert router.get("/-/inflight") == {new.addr: 0}


# -- metrics, collection, admin --------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                     r',?)*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$')


def parse_prometheus(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """A strict reader of the text exposition format: (# TYPE per family, samples)."""
    types: dict[str, str] = {}
    samples = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line.startswith("# HELP ") or not line:
            continue
        else:
            match = _SAMPLE.match(line)
            assert match, f"not exposition format: {line!r}"
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                     match.group(3) or ""))
            samples.append((match.group(1), labels, float(match.group(4))))
    return types, samples


def test_metrics_json_and_prometheus(router: RouterProc, client: httpx.Client,
                                     upstream: Callable[..., Upstream]) -> None:
    blue = upstream("blue")
    green = upstream("green", status=500, content_type="text/plain")
    router.put_routes({"ws/metrics": endpoint(
        {"blue": deployment(blue.addr), "green": deployment(green.addr)}, {"blue": 100})})
    for _ in range(5):
        assert score(client, "metrics").status_code == 200
    for _ in range(3):
        resp = score(client, "metrics", **{"azureml-model-deployment": "green"})
        assert resp.status_code == 500 and resp.headers["content-type"] == "text/plain"
    score(client, "metrics", Authorization="Bearer bad")   # no deployment: not counted
    metrics = router.get("/-/metrics")
    # "usage": per key (test_router_llm.py); "usage_history": per minute, all keys
    assert set(metrics) == {"ws/metrics", "usage", "usage_history"}
    assert metrics["usage"] == {"ws/metrics": {"primary": {
        "requests": 8, "prompt_tokens": 0, "completion_tokens": 0}}}
    minutes = metrics["usage_history"]["ws/metrics"]
    assert sum(m["requests"] for m in minutes) == 8 and all(m["minute"] % 60 == 0
                                                            for m in minutes)
    blue_m, green_m = metrics["ws/metrics"]["blue"], metrics["ws/metrics"]["green"]
    assert (blue_m["request_count"], blue_m["error_count"]) == (5, 0)
    assert (green_m["request_count"], green_m["error_count"]) == (3, 3)
    assert green_m["status_counts"] == {"500": 3}
    for m in (blue_m, green_m):
        assert 0 < m["latency_ms_p50"] <= m["latency_ms_p95"] <= m["latency_ms_p99"]

    text = router.get("/-/metrics/prometheus")
    types, samples = parse_prometheus(text)
    assert types["ember_endpoint_requests_total"] == "counter"
    assert types["ember_endpoint_request_latency_ms"] == "summary"
    by_key = {(name, tuple(sorted(labels.items()))): value for name, labels, value in samples}
    base = (("deployment", "blue"), ("endpoint", "metrics"), ("workspace", "ws"))
    assert by_key[("ember_endpoint_requests_total",
                   tuple(sorted((*base, ("code", "200")))))] == 5
    assert by_key[("ember_endpoint_request_latency_ms_count", base)] == 5
    quantiles = {labels["quantile"] for name, labels, _ in samples
                 if name == "ember_endpoint_request_latency_ms"}
    assert quantiles == {"0.5", "0.95", "0.99"}


def test_data_collection(router: RouterProc, client: httpx.Client,
                         upstream: Callable[..., Upstream], tmp_path: Path) -> None:
    blue, green = upstream("blue"), upstream("green")
    router.put_routes({"ws/collect": endpoint({
        "blue": deployment(blue.addr, collect_request=str(tmp_path / "req"),
                           collect_response=str(tmp_path / "resp"), sampling_rate=1.0),
        "green": deployment(green.addr, collect_request=str(tmp_path / "green"),
                            sampling_rate=0.0)}, {"blue": 100})})
    given = score(client, "collect", {"input_data": [[1, 2]]}, **{"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = [score(client, "collect", {"input_data": [[i]]}) for i in range(3)]
    text = client.post("/endpoints/ws/collect/score", content=b"not json",
                       headers={**AUTH, "content-type": "text/plain"})
    score(client, "collect", **{"azureml-model-deployment": "green"})
    ids = ["abc-123", *(r.headers["x-request-id"] for r in made), text.headers["x-request-id"]]
    assert [h["x-request-id"] for h, _ in blue.received] == ids   # sent upstream too

    def lines(folder: Path) -> list[dict[str, Any]]:
        files = sorted(folder.glob("*/*/*/*/data.jsonl"))
        return [json.loads(line) for f in files for line in f.read_text().splitlines()]
    wait_for(lambda: len(lines(tmp_path / "req")) == 5 and len(lines(tmp_path / "resp")) == 5)
    for path in [*(tmp_path / "req").rglob("*.jsonl"), *(tmp_path / "resp").rglob("*.jsonl")]:
        for line in path.read_text().splitlines():   # <YYYY>/<MM>/<DD>/<HH> of the record, UTC
            moment = datetime.fromisoformat(json.loads(line)["time"])
            assert moment.utcoffset() is not None and not moment.utcoffset()
            assert path.parts[-5:-1] == tuple(f"{moment:%Y %m %d %H}".split())
    requests = {r["id"]: r for r in lines(tmp_path / "req")}
    responses = {r["id"]: r for r in lines(tmp_path / "resp")}
    assert list(requests) == ids and set(responses) == set(ids)
    assert requests["abc-123"]["data"] == {"input_data": [[1, 2]]}
    assert requests[ids[-1]]["data"] == "not json"
    assert responses["abc-123"]["data"]["instance"] == "blue"
    record = requests[ids[1]]
    assert (record["endpoint"], record["deployment"]) == ("collect", "blue")
    assert abs(datetime.fromisoformat(record["time"]).timestamp() - time.time()) < 60
    assert not (tmp_path / "green").exists()


def test_admin_routes_need_the_token(router: RouterProc) -> None:
    routes = [("PUT", "/-/routes"), ("GET", "/-/routes"), ("GET", "/-/inflight"),
              ("GET", "/-/metrics"), ("GET", "/-/metrics/prometheus"), ("GET", "/-/health")]
    before = router.get("/-/routes")
    with httpx.Client(base_url=router.url) as anon:
        for headers in ({}, {"X-Ember-Admin": "wrong"}, {"X-Ember-Admin": ADMIN + "x"}):
            for method, path in routes:
                resp = anon.request(method, path, headers=headers, json={"endpoints": {}})
                assert resp.status_code == 403, (method, path)
                assert resp.json()["error_code"] == "PERMISSION_DENIED"
    assert router.get("/-/routes") == before
    assert router.get("/-/health") == {"status": "ok"}


def test_invalid_table_is_refused(router: RouterProc) -> None:
    before = router.get("/-/routes")
    for bad in (b"not json", b"[]", b'{"endpoints": {"noslash": {}}}',
                b'{"endpoints": {"ws/e": {"deployments": {"d": {"instances": ["nohost"]}}}}}',
                b'{"endpoints": {"ws/e": {"traffic": {"d": -1}}}}',
                (b'{"endpoints": {"ws/e": {"deployments": {"d": '
                 b'{"max_concurrent_requests_per_instance": 0}}}}}')):
        resp = router.admin.put("/-/routes", content=bad)
        assert resp.status_code == 400, bad
    assert router.get("/-/routes") == before


def test_sigterm_finishes_requests_in_flight(tmp_path: Path,
                                             upstream: Callable[..., Upstream]) -> None:
    slow = upstream("slow", delay=0.7)
    proc = RouterProc(tmp_path)
    try:
        proc.put_routes({"ws/term": endpoint({"d": deployment(slow.addr)}, {"d": 100})})
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=proc.url, timeout=30) as c:
            pending = pool.submit(score, c, "term")
            wait_for(lambda: len(slow.received) == 1)
            proc.proc.send_signal(signal.SIGTERM)
            assert pending.result().status_code == 200
        assert proc.proc.wait(30) == 0
    finally:
        proc.stop()
