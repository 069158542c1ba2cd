"""The in-job runner: runs one job's command in its own process and reports over the REST API.

Started by the server as ``python -S .../runner.py <runner.json>`` in a new session, so the
runner, the user's command and everything it starts share one process group that a cancel can
stop at once. It talks to the server only over HTTP (status, live log chunks, output files), so the
same runner runs on other machines too: on a Ray compute it is the Ray job's entrypoint
(``runner.py --config-env``, see :func:`run_remote`), downloads the job's inputs from the server
and uploads its outputs there. Standard library only: it must start fast.

If the server goes away (a restart), every report is retried until ``retry_seconds`` pass,
re-reading the server's ``server.json`` in case it came back on another address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING or __package__:
    from ember.engine import _runner_procs as procs
else:   # run as a file (python -S runner.py): this folder is first on sys.path
    import _runner_procs as procs

LOG_FLUSH_SECONDS = 0.2
MAX_LOG_CHUNK = 1 << 20


class JobGone(Exception):
    """The server no longer accepts reports for this job (it was cancelled or ended)."""


class HttpStatusError(Exception):
    def __init__(self, code: int, body: bytes) -> None:
        super().__init__(f"HTTP {code}: {body[:200]!r}")
        self.code = code
        self.body = body


def http_request(url: str, method: str, path: str, body: bytes, headers: dict[str, str],
                 timeout: float = 60.0) -> bytes:
    """One HTTP/1.1 request over a fresh connection (``Connection: close``).

    Hand-rolled on a socket on purpose: ``urllib.request`` alone costs ~50 ms of imports, which
    is a third of a job's submit→Running budget.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = [f"{method} {parts.path.rstrip('/')}{path} HTTP/1.1", f"Host: {host}:{port}",
            "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    raw = b"".join(chunks)
    header, _, payload = raw.partition(b"\r\n\r\n")
    status_line = header.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2:
        raise ConnectionError("malformed HTTP response")
    code = int(status_line[1])
    if b"transfer-encoding: chunked" in header.lower():
        payload = _dechunk(payload)
    if code >= 400:
        raise HttpStatusError(code, payload)
    return payload


def _dechunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


class Reporter:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.url = cfg["server_url"].rstrip("/")
        self.server_file = cfg.get("server_file")
        self.base = f"/api/v1/workspaces/{cfg['workspace']}/jobs/{cfg['job']}"
        self.retry_seconds = float(cfg.get("retry_seconds", 600))
        token = cfg.get("token")
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        # Set on SIGTERM/SIGINT: from then on a report is tried once, briefly, and not retried,
        # so a runner whose server is gone still stops when told to (not after retry_seconds).
        self.stopping = threading.Event()

    def _refresh_url(self) -> None:
        if not self.server_file:
            return
        try:
            self.url = json.loads(Path(self.server_file).read_text())["url"].rstrip("/")
        except (OSError, ValueError, KeyError):
            pass

    def call(self, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> bytes:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.1
        while True:
            timeout = 5.0 if self.stopping.is_set() else 60.0
            try:
                return http_request(self.url, method, f"{self.base}{path}", body,
                                    {**self.auth, **(headers or {})}, timeout=timeout)
            except HttpStatusError as exc:
                if exc.code in (404, 409):
                    raise JobGone(exc.body.decode("utf-8", "replace")) from exc
                if exc.code < 500:
                    raise
            except (ConnectionError, TimeoutError, OSError, ValueError):
                pass
            if self.stopping.is_set():
                raise ConnectionError("the runner is stopping and the server is unreachable")
            if time.monotonic() > deadline:
                raise ConnectionError(f"server unreachable for {self.retry_seconds:.0f} s")
            self.stopping.wait(delay)   # a SIGTERM ends the wait at once
            delay = min(delay * 2, 2.0)
            self._refresh_url()

    def status(self, status: str, **extra: Any) -> None:
        body = json.dumps({"status": status, **extra}).encode()
        self.call("POST", "/runner/status", body, {"Content-Type": "application/json"})


class LogShipper(threading.Thread):
    """Appends output to the local log and ships it to the server in ordered chunks."""

    def __init__(self, reporter: Reporter, local_log: Path, offset: int = 0) -> None:
        super().__init__(daemon=True)
        self.reporter = reporter
        self.local = open(local_log, "ab")
        self.pending = bytearray()
        self.sent = offset  # the server wrote preparation notes before the runner started
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.closing = threading.Event()

    def write(self, data: bytes) -> None:
        self.local.write(data)
        self.local.flush()
        with self.lock:
            self.pending += data
        self.wake.set()

    def _ship(self) -> None:
        while True:
            with self.lock:
                chunk = bytes(self.pending[:MAX_LOG_CHUNK])
            if not chunk:
                return
            self.reporter.call("POST", "/runner/logs", chunk,
                               {"Content-Type": "application/octet-stream",
                                "X-Ember-Offset": str(self.sent)})
            with self.lock:
                del self.pending[:len(chunk)]
            self.sent += len(chunk)

    def run(self) -> None:
        while not self.closing.is_set():
            self.wake.wait(LOG_FLUSH_SECONDS)
            self.wake.clear()
            try:
                self._ship()
            except (JobGone, ConnectionError):
                return
            self.closing.wait(LOG_FLUSH_SECONDS)  # at most one request per interval

    def close(self) -> None:
        self.closing.set()
        self.wake.set()
        self.join(timeout=30)
        try:
            self._ship()
        finally:
            self.local.close()


def become_subreaper() -> None:
    """Adopt orphaned descendants (double-forked, setsid'd) so a cancel still finds them."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, read from /proc (standard library only)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_leftovers(grace: float = 2.0) -> None:
    """When the command ends, stop what it left running in the background (as a job end would)."""
    me = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = descendants(me)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            if not descendants(me):
                return
            time.sleep(0.05)


def has_files(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return any(files for _root, _dirs, files in os.walk(folder))


def upload_folder(reporter: Reporter, folder: Path, prefix: str,
                  shipper: LogShipper | None = None, route: str = "/artifacts") -> int:
    """PUT every file under ``folder`` to ``<route>/<prefix>/<relative path>``."""
    count = 0
    if not folder.is_dir():
        return 0
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            full = Path(root) / name
            rel = full.relative_to(folder).as_posix()
            try:
                quoted = quote(f"{prefix}/{rel}")
            except UnicodeEncodeError:   # a name in bytes that are not UTF-8: no URL for it
                if shipper is not None:
                    shipper.write(f"[ember] not uploaded: {prefix}/{rel!r} (the file name is "
                                  "not valid UTF-8)\n".encode())
                continue
            reporter.call("PUT", f"{route}/{quoted}", full.read_bytes(),
                          {"Content-Type": "application/octet-stream"})
            count += 1
    return count


def link_tree(src: Path, dst: Path) -> int:
    """Put every file under ``src`` at the same place under ``dst`` (hard links where the
    file system allows, else copies); returns how many."""
    count = 0
    for root, _dirs, files in os.walk(src):
        target = dst / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            source, dest = Path(root) / name, target / name
            if dest.exists() or dest.is_symlink():
                dest.unlink()
            try:
                os.link(source, dest)
            except OSError:
                shutil.copy2(source, dest)
            count += 1
    return count


def fetch_input(reporter: Reporter, name: str, dest: Path) -> tuple[int, int]:
    """Download input ``name`` from the server into ``dest`` (a folder: its files; a file: the
    one file, under its own name); returns (files, bytes)."""
    base = f"/runner/inputs/{quote(name, safe='')}"
    listing = json.loads(reporter.call("GET", base))
    dest.mkdir(parents=True, exist_ok=True)
    count = size = 0
    for entry in listing["files"]:
        rel = str(entry["path"])
        target = (dest / rel).resolve()
        if not target.is_relative_to(dest.resolve()):
            raise ValueError(f"input {name!r}: the server listed a path outside it: {rel!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = reporter.call("GET", f"{base}/{quote(rel)}")
        target.write_bytes(data)
        count += 1
        size += len(data)
    return count, size


def run(cfg: dict[str, Any]) -> int:
    reporter = Reporter(cfg)
    cwd = Path(cfg["cwd"])
    log_path = Path(cfg["log_path"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    shipper = LogShipper(reporter, log_path, int(cfg.get("log_offset", 0)))
    shipper.start()

    become_subreaper()
    env = dict(os.environ)
    env.update(cfg.get("env", {}))
    for name, rel, kind in cfg.get("push") or []:   # a remote job's named outputs
        out = Path(rel)
        (out.parent if kind == "uri_file" else out).mkdir(parents=True, exist_ok=True)
    for name, dest in cfg.get("fetch") or []:   # a remote job's inputs, from the server
        try:
            count, size = fetch_input(reporter, name, Path(dest))
        except (HttpStatusError, JobGone, ConnectionError, OSError, ValueError, KeyError) as exc:
            why = f"input {name!r} could not be downloaded from the server: {exc}"
            shipper.write(f"[ember] {why}\n".encode())
            try:
                shipper.close()
                reporter.status("Failed", exit_code=1, error=why)
            except (JobGone, ConnectionError):
                pass
            return 1
        shipper.write(f"[ember] input {name!r}: downloaded {count} file(s), {size} bytes\n"
                      .encode())
    plan = cfg.get("processes")   # a distribution: several processes, one per rank
    rank_envs = procs.process_envs(plan) if plan else [{}]
    children = [subprocess.Popen(["/bin/bash", "-c", cfg["command"]], cwd=cwd,
                                 env={**env, **extra}, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for extra in rank_envs]
    child = children[0]
    stopping = reporter.stopping

    def on_term(signum: int, _frame: Any) -> None:
        stopping.set()
        for each in children:
            try:
                each.send_signal(signum)
            except ProcessLookupError:
                pass

    def kill_all() -> None:
        for each in children:
            each.kill()
            each.wait()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        reporter.status("Running", pid=child.pid)
    except JobGone:
        kill_all()
        return 3
    except ConnectionError:   # stopped (SIGTERM) while the server was unreachable
        kill_all()
        stop_leftovers()
        shipper.closing.set()
        return 143

    readers: list[threading.Thread] = []
    if plan:
        lock = threading.Lock()
        for rank, each in enumerate(children):
            assert each.stdout is not None
            readers.append(procs.RankPump(
                rank, each.stdout.fileno(),
                log_path.parent / f"std_log_process_{rank}.txt", shipper.write, lock))
        for reader in readers:
            reader.start()
        code, failed_rank = procs.wait_all(children, stopping, descendants)
    else:
        assert child.stdout is not None
        fd = child.stdout.fileno()

        def pump() -> None:
            while data := os.read(fd, 65536):
                shipper.write(data)

        readers.append(threading.Thread(target=pump, daemon=True))
        readers[0].start()
        code, failed_rank = child.wait(), None
    # Background processes the command left behind hold the output pipe open; stop them so the
    # job ends when its command does.
    stop_leftovers()
    for reader in readers:
        reader.join(timeout=10)
    if stopping.is_set():
        try:
            shipper.close()
        except (JobGone, ConnectionError):
            pass   # the server is gone or the job ended: the local runner.log keeps the output
        return 143

    try:
        # Finalizing is the output collection; with nothing to collect the job goes straight
        # from Running to its end (one report less on every short step).
        if (has_files(cwd / "outputs") or has_files(cwd / "logs") or cfg.get("deferred_outputs")
                or plan or cfg.get("push")):
            reporter.status("Finalizing", exit_code=code)
            for rank in range(len(children) if plan else 0):
                own = log_path.parent / f"std_log_process_{rank}.txt"
                if own.is_file():
                    reporter.call("PUT", f"/artifacts/user_logs/{own.name}", own.read_bytes(),
                                  {"Content-Type": "application/octet-stream"})
            if cfg.get("artifacts_output") and has_files(cwd / "outputs"):
                # The default output 'artifacts' (pipeline steps): what ./outputs holds.
                link_tree(cwd / "outputs", Path(cfg["artifacts_output"]))
            uploaded = upload_folder(reporter, cwd / "outputs", "outputs", shipper)
            for name, rel, _kind in cfg.get("push") or []:   # a remote job's named outputs
                out = Path(rel)
                sent = upload_folder(reporter, out if out.is_dir() else out.parent, name,
                                     shipper, route="/runner/outputs")
                shipper.write(f"[ember] output {name!r}: uploaded {sent} file(s)\n".encode())
            uploaded += upload_folder(reporter, cwd / "logs", "logs", shipper)
            if uploaded:
                shipper.write(f"[ember] uploaded {uploaded} file(s) from ./outputs and "
                              "./logs\n".encode())
            if cfg.get("deferred_outputs"):   # outputs on a remote datastore: the server copies
                reporter.call("POST", "/runner/finalize", b"{}",
                              {"Content-Type": "application/json"})
        shipper.close()
        if code == 0:
            reporter.status("Completed", exit_code=0)
        else:
            why = (f"the command exited with code {code}" if code > 0
                   else f"the command was killed by signal {-code}")
            if failed_rank is not None:
                why = (f"process rank {failed_rank} of {len(children)} failed: {why}; the "
                       "other processes were stopped")
            reporter.status("Failed", exit_code=code, error=why)
    except JobGone:
        return 3
    except ConnectionError as exc:   # the server stayed away (or we were stopped meanwhile)
        print(f"[ember] could not report the job's end: {exc}", file=sys.stderr)
        return 143 if stopping.is_set() else 1
    return 0


def private_copy(cfg: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """On a Ray node: the folder Ray starts us in holds the job's code and is shared by every job
    with the same code on that node, so the job gets a private copy: ``<root>/wd`` is its working
    folder, ``<root>/inputs`` and ``<root>/outputs`` hold its downloaded inputs and named outputs
    (``$EMBER_JOB_ROOT`` in its command). Returns the root (the caller removes it) and the
    configuration with its paths there."""
    import tempfile

    shared = Path.cwd()
    root = Path(tempfile.mkdtemp(prefix=f"ember-{cfg['job'][:40]}-"))
    try:
        shutil.copytree(shared, root / "wd", symlinks=True,
                        ignore=shutil.ignore_patterns(".ember"))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    for folder in ("outputs", "logs"):   # as Azure ML (and local compute) make them
        if not (root / "wd" / folder).exists():
            (root / "wd" / folder).mkdir()

    def at_root(rel: str) -> str:
        return str(root / rel)

    return root, {
        **cfg, "cwd": at_root(cfg["cwd"]), "log_path": at_root(cfg["log_path"]),
        "server_file": None,
        "env": {**cfg.get("env", {}), "EMBER_JOB_ROOT": str(root)},
        "fetch": [[n, at_root(d)] for n, d in cfg.get("fetch") or []],
        "push": [[n, at_root(d), k] for n, d, k in cfg.get("push") or []],
        "artifacts_output": (at_root(cfg["artifacts_output"])
                             if cfg.get("artifacts_output") else None)}


def run_remote(cfg: dict[str, Any]) -> int:
    """Run a job on another machine (a Ray node), in a private copy of its code (see
    :func:`private_copy`) removed when the job ends. A job of several instances runs each on its
    own node (``_runner_ray``, which needs Ray: the site packages ``-S`` left out are added)."""
    if int((cfg.get("processes") or {}).get("instances", 1)) > 1:
        if sys.flags.no_site:   # the entrypoint is ``python -S``: Ray lives in site-packages
            import site

            site.main()
        if TYPE_CHECKING or __package__:
            from ember.engine import _runner_ray
        else:
            import _runner_ray
        return _runner_ray.run_instances(cfg)
    root, cfg = private_copy(cfg)
    try:
        return run(cfg)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def standby() -> str | None:
    """Wait, warm (interpreter started, modules imported, subreaper set), for the server to
    write a runner.json path on stdin; then take the job folder as cwd and runner.log as
    stdout/stderr. An empty line or a closed pipe (the server went away) means exit."""
    become_subreaper()
    line = sys.stdin.readline().strip()
    if not line:
        return None
    job_dir = os.path.dirname(line)
    os.chdir(job_dir)
    log_fd = os.open(os.path.join(job_dir, "runner.log"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    return line


def main(argv: list[str]) -> int:
    """``runner.py <runner.json>``, ``runner.py --standby`` (the path comes on stdin), or
    ``runner.py --config-env`` (the configuration is in ``EMBER_RUNNER_CONFIG``: a remote job)."""
    if argv[1:] == ["--config-env"]:
        return run_remote(json.loads(os.environ.pop("EMBER_RUNNER_CONFIG")))
    if argv[1:] == ["--standby"]:
        path = standby()
        if path is None:
            return 0
    else:
        path = argv[1]
    cfg = json.loads(Path(path).read_text())
    return run(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
