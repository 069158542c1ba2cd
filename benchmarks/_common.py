"""Shared helpers for the benchmark scripts: server processes, timing statistics, machine info.

Every server is started in its own process group (``start_new_session``) so that stopping it
also stops the workers it forks (``mlflow server`` runs uvicorn workers and a job runner); stop
is SIGTERM to the group, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from typing import Any
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench-results"
HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# statistics


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def latency_summary(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    return {
        "n": len(latencies_s),
        "wall_s": round(wall_s, 4),
        "calls_per_s": round(len(latencies_s) / wall_s, 2) if wall_s > 0 else 0.0,
        "p50_ms": round(percentile(latencies_s, 50) * 1000, 3),
        "p95_ms": round(percentile(latencies_s, 95) * 1000, 3),
        "max_ms": round(max(latencies_s) * 1000, 3),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------------------------------------
# deadlines: every script must end even if a server hangs


class BenchTimeout(Exception):
    pass


def install_deadline(seconds: int) -> None:
    """Raise BenchTimeout in the main thread after ``seconds``; SIGTERM/SIGINT raise SystemExit.

    Both unwind through the scripts' ``finally`` blocks, so servers are always stopped.
    """

    def on_alarm(_signum: int, _frame: object) -> None:
        raise BenchTimeout(f"benchmark exceeded its {seconds}s deadline")

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(seconds)


# ---------------------------------------------------------------------------------------------
# server processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str                      # root URL, e.g. http://127.0.0.1:5000
    tracking_uri: str             # what MlflowClient(tracking_uri=...) gets
    workdir: Path
    command: list[str]
    log_path: Path
    pid: int = 0                  # the pid that serves requests (for py-spy)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def mlflow_api(self) -> str:
        return f"{self.tracking_uri}/api/2.0/mlflow"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group we created, wait, then SIGKILL whatever is left of it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # Workers of the group may outlive the leader; the group id is the leader's pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.Popen[bytes]:
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the child for its lifetime
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=env, cwd=cwd)
    finally:
        log.close()


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} was up")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == 200:
                return
            last = r.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout}s (last: {last!r})")


def mlflow_server_command(workdir: Path, port: int, workers: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "mlflow", "server",
           "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
           "--artifacts-destination", f"{workdir}/art",
           "--host", HOST, "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return cmd


def mlflow_server_display_command(workers: int | None) -> str:
    cmd = ("mlflow server --backend-store-uri sqlite:///<d>/mlflow.db "
           "--artifacts-destination <d>/art --host 127.0.0.1 --port <P>")
    return cmd + (f" --workers {workers}" if workers is not None else "")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    # utime, stime, cutime, cstime are fields 14-17 (1-based) of the full line.
    return sum(int(x) for x in fields[11:15])


def wait_idle(root_pid: int, *, min_s: float, max_s: float, window: float = 2.0,
              busy_fraction: float = 0.05) -> float:
    """Wait until the process tree under ``root_pid`` uses under ``busy_fraction`` of one core
    over ``window`` seconds (servers finish start-up work: imports, migrations, job runners).

    Returns the seconds waited (at least ``min_s``, at most ``max_s``).
    """
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    time.sleep(min_s)
    while time.monotonic() - t0 < max_s:
        pids = [root_pid, *_descendants(root_pid)]
        before = sum(_cpu_ticks(p) for p in pids)
        time.sleep(window)
        after = sum(_cpu_ticks(p) for p in [root_pid, *_descendants(root_pid)])
        if (after - before) / hz / window < busy_fraction:
            break
    return time.monotonic() - t0


def _machine_busy_ticks() -> int:
    """Busy jiffies of all CPUs together (user+nice+system+irq+softirq+steal)."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0
    return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)


class CpuMeter:
    """CPU used during a test: by this process, by the servers' process trees, and by everything
    else on the machine (other people's tests), in cores (1.0 = one core fully busy)."""

    def __init__(self, server_roots: list[int]) -> None:
        self.hz = os.sysconf("SC_CLK_TCK")
        self.roots = server_roots
        self.t0 = time.monotonic()
        self.machine0 = _machine_busy_ticks()
        self.servers0 = self._servers()
        t = os.times()
        self.self0 = t.user + t.system

    def _servers(self) -> dict[int, int]:
        pids: list[int] = []
        for r in self.roots:
            pids += [r, *_descendants(r)]
        return {p: _cpu_ticks(p) for p in pids}

    def read(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.t0, 1e-6)
        machine = (_machine_busy_ticks() - self.machine0) / self.hz
        now = self._servers()
        servers = sum(v - self.servers0.get(p, 0) for p, v in now.items()) / self.hz
        t = os.times()
        client = t.user + t.system - self.self0
        return {"wall_s": round(wall, 3), "client_cores": round(client / wall, 2),
                "server_cores": round(servers / wall, 2),
                "others_cores": round(max(machine - servers - client, 0.0) / wall, 2)}


def process_cpu() -> float:
    """CPU seconds used by this process so far (all threads, user + system; ns resolution)."""
    return time.process_time()


def wait_quiet(max_wait: float, threshold: float, window: float = 0.5) -> float:
    """Wait (at most ``max_wait`` s) for a ``window`` in which the rest of the machine uses under
    ``threshold`` cores; returns the seconds waited. For shared machines: damps other people's
    test runs without hanging when the machine never goes quiet."""
    if max_wait <= 0:
        return 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait:
        meter = CpuMeter([])
        time.sleep(window)
        if meter.read()["others_cores"] < threshold:
            break
    return time.monotonic() - t0


def cprofile_top(fn: Callable[[], object], top: int = 12) -> dict[str, object]:
    """Run ``fn`` once under cProfile in this process; top functions by own time."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    wall = time.perf_counter() - t0
    st = pstats.Stats(prof)
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    total = sum(v[2] for v in st.stats.values()) or 1.0  # type: ignore[attr-defined]
    lines = [f"{100.0 * tt / total:5.1f}%  {tt:7.3f}s  {Path(f).name}:{ln}({name})"
             for (f, ln, name), (_cc, _nc, tt, _ct, _callers) in rows]
    return {"wall_s": round(wall, 3), "top_self": lines}


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in _children(p):
            out.append(c)
            todo.append(c)
    return out


@contextlib.contextmanager
def mlflow_server(workers: int | None, *, settle: float, startup_timeout: float = 120.0,
                  keep_dir: bool = False) -> Iterator[Server]:
    """A fresh ``mlflow server`` (SQLite + local artifacts) on a free loopback port."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    port = free_port()
    cmd = mlflow_server_command(tmp, port, workers)
    log_path = tmp / "server.log"
    env = dict(os.environ)
    # Don't let the server process pick up a tracking URI or proxies from the caller.
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = _spawn(cmd, log_path, env=env, cwd=tmp)
    url = f"http://{HOST}:{port}"
    server = Server("mlflow", proc, url, url, tmp, cmd, log_path, pid=proc.pid,
                    extra={"workers": workers if workers is not None else "default (4)"})
    try:
        wait_http_ok(f"{url}/health", proc, startup_timeout)
        server.extra["settled_s"] = round(wait_idle(proc.pid, min_s=settle, max_s=settle + 60),
                                          1)
        # With --workers 1 uvicorn serves in a child of the CLI; point py-spy at it.
        uvicorns = [p for p in _descendants(proc.pid) if "uvicorn" in _cmdline(p)
                    or "multiprocessing" in _cmdline(p)]
        server.extra["descendants"] = _descendants(proc.pid)
        if uvicorns:
            server.pid = uvicorns[0]
        yield server
    except BaseException:
        sys.stderr.write(f"--- mlflow server log tail ---\n{server.log_tail()}\n")
        raise
    finally:
        stop_process_group(proc)
        if not keep_dir:
            _rmtree(tmp)


@contextlib.contextmanager
def ember_server(*, settle: float, startup_timeout: float = 120.0, keep_dir: bool = False,
                 extra_args: list[str] | None = None) -> Iterator[Server]:
    """A fresh Ember workspace server (embedded SQLite) with its own home folder."""
    home = Path(tempfile.mkdtemp(prefix="bench-ember-"))
    cmd = [sys.executable, "-m", "ember.cli.main", "server", "start",
           "--home", str(home), "--port", "0", *(extra_args or [])]
    log_path = home.parent / f"{home.name}.log"
    env = dict(os.environ)
    env.pop("EMBER_ENDPOINT", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = _spawn(cmd, log_path, env=env, cwd=home)
    info_path = home / "server.json"
    server: Server | None = None
    try:
        deadline = time.monotonic() + startup_timeout
        info: dict[str, object] | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"ember server exited with code {proc.returncode}:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            if info_path.exists():
                with contextlib.suppress(ValueError, OSError):
                    info = json.loads(info_path.read_text())
                    break
            time.sleep(0.1)
        if info is None:
            raise TimeoutError(f"ember server did not write {info_path} in {startup_timeout}s")
        url = str(info["url"]).rstrip("/")
        wait_http_ok(f"{url}/health", proc, startup_timeout)
        server = Server("ember", proc, url, f"{url}/workspaces/default", home, cmd, log_path,
                        pid=int(info.get("pid") or proc.pid))  # type: ignore[call-overload]
        server.extra["settled_s"] = round(wait_idle(proc.pid, min_s=settle, max_s=settle + 60),
                                          1)
        # The SDK and mlflow clients in this process send the server's owner token (the
        # server's home is not this process's EMBER_HOME, so they would find none).
        token_file = home / "owner.token"
        if token_file.exists():
            token = token_file.read_text().strip()
            saved = {k: os.environ.get(k) for k in ("EMBER_TOKEN", "MLFLOW_TRACKING_TOKEN")}
            os.environ.update({k: token for k in saved})
            try:
                yield server
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        else:
            yield server
    except BaseException:
        with contextlib.suppress(OSError):
            sys.stderr.write("--- ember server log tail ---\n"
                             + log_path.read_text(errors="replace")[-3000:] + "\n")
        raise
    finally:
        stop_process_group(proc)
        if not keep_dir:
            _rmtree(home)
            with contextlib.suppress(OSError):
                log_path.unlink()


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# profiling (py-spy against a running server)


@contextlib.contextmanager
def py_spy(pid: int, out_svg: Path | None, duration: int = 10,
           rate: int = 200) -> Iterator[dict[str, object]]:
    """Record the server with py-spy while the body runs; yields a dict that gets the result.

    Writes a flamegraph SVG and a raw collapsed-stack file next to it (``.txt``) from which the
    top self/inclusive functions are summarised. No-op (``{"skipped": why}``) without py-spy.
    """
    result: dict[str, object] = {}
    exe = _which("py-spy")
    if out_svg is None or exe is None:
        result["skipped"] = "py-spy not installed" if exe is None else "profiling off"
        yield result
        return
    out_svg.parent.mkdir(parents=True, exist_ok=True)
    raw = out_svg.with_suffix(".txt")
    procs = []
    for fmt, path in (("flamegraph", out_svg), ("raw", raw)):
        procs.append(subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--duration", str(duration), "--rate", str(rate),
             "--format", fmt, "-o", str(path), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True))
    time.sleep(1.0)  # let py-spy attach before the load starts
    try:
        yield result
    finally:
        for p in procs:
            try:
                _, err = p.communicate(timeout=duration + 30)
                if p.returncode:
                    errors = result.setdefault("errors", [])
                    assert isinstance(errors, list)
                    errors.append(err.decode(errors="replace")[-500:])
            except subprocess.TimeoutExpired:
                stop_process_group(p, grace=2)  # type: ignore[arg-type]
        result["svg"] = str(out_svg)
        if raw.exists():
            result["raw"] = str(raw)
            result.update(summarise_collapsed(raw))


def summarise_collapsed(path: Path, top: int = 15) -> dict[str, object]:
    """Top functions by self samples and by inclusive samples from py-spy's raw output."""
    idle_leaf = ("EpollSelector.select", "Condition.wait", "Event.wait", "_worker (concurrent",
                 "select (selectors", "poll (selectors")
    idle = 0
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        try:
            count = int(count_s)
        except ValueError:
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        if frames[-1].startswith(idle_leaf) or any(m in frames[-1] for m in idle_leaf):
            idle += count
        self_counts[frames[-1]] = self_counts.get(frames[-1], 0) + count
        for f in set(frames):
            incl_counts[f] = incl_counts.get(f, 0) + count

    def fmt(d: dict[str, int]) -> list[str]:
        items = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [f"{100.0 * c / total:5.1f}%  {f}" for f, c in items] if total else []

    return {"samples": total,
            "idle_wait_pct": round(100.0 * idle / total, 1) if total else 0.0,
            "top_self": fmt(self_counts), "top_inclusive": fmt(incl_counts)}


def _which(name: str) -> str | None:
    import shutil

    found = shutil.which(name)
    if found:
        return found
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else None


# ---------------------------------------------------------------------------------------------
# machine description


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    versions = {}
    for mod in ("mlflow", "ember"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as exc:  # noqa: BLE001 - report, don't fail
            versions[mod] = f"unavailable ({exc.__class__.__name__})"
    return {
        "date_utc": subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip(),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "mlflow": versions["mlflow"],
        "ember": versions["ember"],
        "platform": platform.platform(),
    }


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def status_time(job: Any, status: str, last: bool = False) -> float | None:
    """When ``job`` entered ``status`` (its first time, or with ``last`` its last), or None."""
    hits = [float(h.time) for h in job.status_history or [] if h.status == status]
    if not hits:
        return None
    return hits[-1] if last else hits[0]


def describe(job: Any) -> str:
    """One line: a job's name, status, error and status history (for a failed benchmark)."""
    hist = ", ".join(f"{h.status}@{h.time:.3f}" for h in job.status_history or [])
    return f"{job.name}: {job.status} error={getattr(job, 'error', None)!r} [{hist}]"


def wait_job_ended(client: Any, name: str, *, terminal: set[str], timeout_s: float,
                   poll_s: float, what: str = "job") -> Any:
    """Poll ``client.jobs.get(name)`` until its status is in ``terminal``; TimeoutError after
    ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.jobs.get(name)
        if job.status in terminal:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} {name} still {job.status} after {timeout_s} s")
        time.sleep(poll_s)
