"""A job's instances on separate nodes of its Ray cluster: ``resources.instance_count > 1`` with a
pytorch or mpi ``distribution`` on a Ray compute.

The runner (the Ray job's entrypoint) imports this only for such a plan. It joins the job's
cluster (inside a Ray job ``ray.init()`` needs no address), reserves one bundle per instance with
``STRICT_SPREAD`` (one instance per node: Azure ML's meaning of an instance) and starts one actor
per instance in its bundle; instance 0's node is the master (MASTER_ADDR, a port free there).
Each actor makes the job's private folder on its node (``runner.private_copy``), downloads the
inputs, starts its ranks with the launcher's variables (``_runner_procs.process_envs``) and
streams their output back; the runner writes it to the job log and the per-rank files as for
ranks of its own (``RankPump``). A failing rank stops every other, on every node. A stop (cancel,
timeout: Ray sends the runner SIGTERM) stops every instance's ranks, SIGTERM then SIGKILL, and a
rank whose actor dies dies with it (``PR_SET_PDEATHSIG``). When the ranks have ended each actor
uploads its ./outputs, ./logs and named outputs (the last writer wins, as on Azure ML's shared
output mount).

Not standard library only, unlike the rest of the runner: it runs where Ray is installed.
"""

from __future__ import annotations

import ctypes
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:
    from ember.engine import _runner_procs as procs
    from ember.engine import runner as base
else:   # in a job's stage, beside runner.py (run as a file: this folder is first on sys.path)
    import _runner_procs as procs
    import runner as base

# How long the instances may wait for nodes to hold them; a job's environment variable
# EMBER_RAY_PLACEMENT_TIMEOUT_S changes it (an autoscaling cluster may need minutes).
PLACEMENT_SECONDS = 120.0
PR_SET_PDEATHSIG = 1
_REPORT_ERRORS = (base.HttpStatusError, base.JobGone, ConnectionError, OSError, ValueError,
                  KeyError)


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _why(exc: BaseException) -> str:
    """One line for an error from an actor: the user-facing cause of a task's error (Ray's own
    first line names only the task), else Ray's first line (an actor that died, say)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {_first_line(str(cause))}"
    return _first_line(str(exc))


def _free_port() -> int:
    """A port free on every interface of this node (the other nodes connect to it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


class Instance:
    """One instance of the job on its node: a threaded Ray actor, so that ``stop`` arrives while
    ``run`` streams."""

    def __init__(self, cfg: dict[str, Any], instance: int) -> None:
        self.cfg = cfg
        self.instance = instance
        self.stopping = threading.Event()
        self.children: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()
        self.root: Path | None = None
        self.own: dict[str, Any] = cfg
        # resolved here, not in the forked child (no dlopen between fork and exec)
        self._prctl = ctypes.CDLL(None, use_errno=True).prctl

    def where(self) -> tuple[str, str]:
        import ray

        return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()

    def free_port(self) -> int:
        return _free_port()

    def _die_with_actor(self) -> None:
        self._prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def run(self, ranks: list[int], envs: list[dict[str, str]]
            ) -> Iterator[tuple[Any, ...]]:
        """Make the private folder, download the inputs, run ranks ``ranks`` with ``envs``.
        Yields ("log", bytes) Ember's lines for the job log, ("started",) once the ranks run,
        ("out", rank, bytes) their output, and last ("end", exit code, failed rank or None,
        why or None)."""
        i = self.instance
        try:
            self.root, self.own = base.private_copy(self.cfg)
        except OSError as exc:
            yield ("end", 1, None, f"instance {i}: the job's folder could not be made on its "
                                   f"node: {exc}")
            return
        cfg = self.own
        reporter = base.Reporter(cfg)
        reporter.stopping = self.stopping   # a stop ends the retries of a download
        for _name, rel, kind in cfg.get("push") or []:
            named = Path(rel)
            (named.parent if kind == "uri_file" else named).mkdir(parents=True, exist_ok=True)
        for name, dest in cfg.get("fetch") or []:
            try:
                count, size = base.fetch_input(reporter, name, Path(dest))
            except _REPORT_ERRORS as exc:
                yield ("end", 1, None, f"instance {i}: input {name!r} could not be downloaded "
                                       f"from the server: {exc}")
                return
            yield ("log", f"[ember] instance {i}: input {name!r}: downloaded {count} file(s), "
                          f"{size} bytes\n".encode())
        env = {k: v for k, v in os.environ.items() if k != "EMBER_RUNNER_CONFIG"}
        env.update(cfg.get("env", {}))
        with self.lock:   # a stop that came first starts nothing
            if self.stopping.is_set():
                yield ("end", 143, None, None)
                return
            for extra in envs:
                self.children.append(subprocess.Popen(
                    ["/bin/bash", "-c", cfg["command"]], cwd=cfg["cwd"], env={**env, **extra},
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, start_new_session=True,
                    preexec_fn=self._die_with_actor))
        yield ("started",)
        children = self.children
        out: queue.Queue[tuple[int, bytes] | None] = queue.Queue()

        def pump(rank: int, fd: int) -> None:
            try:
                while data := os.read(fd, 65536):
                    out.put((rank, data))
            finally:
                out.put(None)

        result: list[tuple[int, int | None]] = []

        def wait() -> None:
            try:
                result.append(procs.wait_all(children, self.stopping, base.descendants))
            finally:
                for child in children:   # what a rank left in the background holds its pipe
                    _kill_group(child.pid, signal.SIGKILL)
                out.put(None)

        for rank, child in zip(ranks, children):
            assert child.stdout is not None
            threading.Thread(target=pump, args=(rank, child.stdout.fileno()),
                             daemon=True).start()
        threading.Thread(target=wait, daemon=True).start()
        open_ends = len(children) + 1
        while open_ends:
            try:
                item = out.get(timeout=None if result == [] else 10)
            except queue.Empty:   # a pipe held open by a process that left its group
                break
            if item is None:
                open_ends -= 1
            else:
                yield ("out", *item)
        code, failed = result[0] if result else (1, None)
        yield ("end", code, None if failed is None else ranks[failed], None)

    def stop(self, grace: float) -> None:
        """Stop the ranks and whatever they started: SIGTERM, then SIGKILL after ``grace``."""
        self.stopping.set()
        with self.lock:
            children = list(self.children)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for child in children:
                if child.returncode is None:
                    _kill_group(child.pid, sig)
                    procs.signal_tree(child, sig, base.descendants)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if all(c.returncode is not None or c.poll() is not None for c in children):
                    return
                time.sleep(0.05)

    def finalize(self) -> bytes:
        """Upload ./outputs, named outputs and ./logs; returns the lines for the job log."""
        cfg, i = self.own, self.instance
        cwd = Path(cfg["cwd"])
        reporter = base.Reporter(cfg)
        lines = []
        if cfg.get("artifacts_output") and base.has_files(cwd / "outputs"):
            base.link_tree(cwd / "outputs", Path(cfg["artifacts_output"]))
        uploaded = base.upload_folder(reporter, cwd / "outputs", "outputs")
        for name, rel, _kind in cfg.get("push") or []:
            folder = Path(rel)
            sent = base.upload_folder(reporter, folder if folder.is_dir() else folder.parent,
                                      name, route="/runner/outputs")
            lines.append(f"[ember] instance {i}: output {name!r}: uploaded {sent} file(s)\n")
        uploaded += base.upload_folder(reporter, cwd / "logs", "logs")
        if uploaded:
            lines.append(f"[ember] instance {i}: uploaded {uploaded} file(s) from ./outputs "
                         "and ./logs\n")
        return "".join(lines).encode()

    def close(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass   # the group is gone


def _by_value() -> None:
    """Ship this file's code (and the runner's) to the actors by value: the stage's ``.ember``
    folder, where they live, is not on the Ray workers' import path."""
    from ray import cloudpickle

    for module in (sys.modules[__name__], procs, base):
        cloudpickle.register_pickle_by_value(module)


class Driver:
    """The runner's side: places the instances, relays their output, ends the job."""

    def __init__(self, cfg: dict[str, Any], log_dir: Path) -> None:
        self.cfg = cfg
        plan = cfg["processes"]
        self.instances, self.per = int(plan["instances"]), int(plan["per_instance"])
        self.world = int(plan["world_size"])
        self.bundle = {k: float(v) for k, v in plan["bundle"].items()}
        self.reporter = base.Reporter(cfg)
        self.stopping = self.reporter.stopping
        self.log_path = log_dir / cfg["log_path"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.shipper = base.LogShipper(self.reporter, self.log_path,
                                       int(cfg.get("log_offset", 0)))
        self.actors: list[Any] = []
        # Ray SIGKILLs the runner RAY_JOB_STOP_WAIT_TIME_S after its SIGTERM (and the actors
        # with it): the ranks' SIGTERM grace, then SIGKILL's, fit in that.
        self.grace = max(0.5, min(5.0, float(os.environ.get("RAY_JOB_STOP_WAIT_TIME_S")
                                              or 10) / 2 - 0.5))
        self.shown = "{" + ", ".join(f"{k}: {v:g}" for k, v in self.bundle.items()) + "}"

    def note(self, text: str) -> None:
        self.shipper.write(f"[ember] {text}\n".encode())

    def fail(self, why: str, code: int = 1) -> int:
        self.note(why)
        try:
            self.shipper.close()
            self.reporter.status("Failed", exit_code=code, error=why)
        except (base.JobGone, ConnectionError):
            pass
        return 1

    def stopped(self) -> int:
        try:
            self.shipper.close()
        except (base.JobGone, ConnectionError):
            pass
        return 143

    def stop_actors(self, but: Collection[int] = ()) -> None:
        for i, actor in enumerate(self.actors):
            if i not in but:
                actor.stop.remote(self.grace)

    def wait_refs(self, refs: list[Any]) -> list[Any] | None:
        """``ray.get(refs)``, given up (None) when a stop comes first."""
        import ray

        pending = list(refs)
        while pending:
            if self.stopping.is_set():
                return None
            _done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        return list(ray.get(refs))

    def catch_stop(self) -> None:
        def on_term(_signum: int, _frame: Any) -> None:
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)

    def run(self) -> int:
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.shipper.start()
        try:
            ray.init(log_to_driver=False)
        except Exception as exc:   # Ray raises ConnectionError, RuntimeError, ...
            return self.fail(f"the runner could not join the job's Ray cluster: "
                             f"{_first_line(str(exc))}")
        self.catch_stop()   # ray.init put its own SIGTERM handler (exit at once) in place
        _by_value()
        n = self.instances
        self.note(f"placing {n} instance(s) on {n} separate node(s), each {self.shown}")
        pg = placement_group([dict(self.bundle)] * n, strategy="STRICT_SPREAD",
                             name=f"ember-{self.cfg['job']}")
        try:
            return self._run_placed(pg, PlacementGroupSchedulingStrategy)
        finally:
            self._cleanup(pg)

    def _run_placed(self, pg: Any, strategy: Any) -> int:
        import ray

        n = self.instances
        timeout = float(self.cfg.get("env", {}).get("EMBER_RAY_PLACEMENT_TIMEOUT_S")
                        or PLACEMENT_SECONDS)
        deadline = time.monotonic() + timeout
        while not pg.wait(timeout_seconds=0.5):
            if self.stopping.is_set():
                return self.stopped()
            if time.monotonic() > deadline:
                alive = sum(1 for node in ray.nodes() if node.get("Alive"))
                return self.fail(
                    f"resources.instance_count {n} needs {n} nodes (one instance per node), "
                    f"each with {self.shown} free; the Ray cluster has {alive} alive node(s) "
                    f"and could not place them within {timeout:g} s")
        options = {"num_cpus": self.bundle.get("CPU", 0),
                   "num_gpus": self.bundle.get("GPU", 0),
                   "resources": {k: v for k, v in self.bundle.items()
                                 if k not in ("CPU", "GPU")},
                   "max_concurrency": 4}
        actor_class = ray.remote(Instance)
        self.actors = [actor_class.options(
            **options, scheduling_strategy=strategy(pg, placement_group_bundle_index=i)
        ).remote(self.cfg, i) for i in range(n)]
        try:
            places = self.wait_refs([a.where.remote() for a in self.actors])
            if places is None:
                return self.stopped()
            port = ray.get(self.actors[0].free_port.remote())
        except Exception as exc:   # an actor that could not start (its runtime environment)
            return self.fail(f"the job's instances could not start on the Ray cluster: "
                             f"{_why(exc)}")
        for i, (node, ip) in enumerate(places):
            self.note(f"instance {i}: node {node} ({ip})")
        envs = procs.process_envs(self.cfg["processes"], master_addr=places[0][1],
                                  master_port=port)
        return self._relay(envs)

    def _relay(self, envs: list[dict[str, str]]) -> int:
        import ray

        events: queue.Queue[tuple[int, tuple[Any, ...]]] = queue.Queue()
        lock = threading.Lock()
        pumps = {rank: procs.RankPump(rank, None, self.log_path.parent /
                                      f"std_log_process_{rank}.txt", self.shipper.write, lock)
                 for rank in range(self.world)}

        def follow(i: int, actor: Any) -> None:
            ranks = list(range(i * self.per, (i + 1) * self.per))
            ended = False
            try:
                stream = actor.run.options(num_returns="streaming").remote(
                    ranks, envs[ranks[0]:ranks[-1] + 1])
                for ref in stream:
                    event = ray.get(ref)
                    ended = ended or event[0] == "end"
                    events.put((i, event))
            except Exception as exc:   # an error on the node, or the actor died with it
                if not ended:
                    events.put((i, ("end", 1, None, f"instance {i} failed: {_why(exc)}")))
                    ended = True
            if not ended:
                events.put((i, ("end", 1, None, f"instance {i} ended without a result")))

        for i, actor in enumerate(self.actors):
            threading.Thread(target=follow, args=(i, actor), daemon=True).start()
        ends: dict[int, tuple[int, int | None, str | None]] = {}
        started: set[int] = set()
        first: tuple[int, int, int | None, str | None] | None = None
        stop_sent_at: float | None = None
        while len(ends) < self.instances:
            if self.stopping.is_set() and stop_sent_at is None:
                self.stop_actors(set(ends))
                stop_sent_at = time.monotonic()
            if stop_sent_at is not None and time.monotonic() > stop_sent_at + 2 * self.grace + 5:
                break   # the actors die with this job anyway
            try:
                i, event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            kind = event[0]
            if kind == "out":
                pumps[event[1]].feed(event[2])
            elif kind == "log":
                self.shipper.write(event[1])
            elif kind == "started":
                started.add(i)
                if len(started) == self.instances and not self.stopping.is_set():
                    try:
                        self.reporter.status("Running", pid=os.getpid())
                    except base.JobGone:
                        self.stop_actors()
                        return 3
                    except ConnectionError:   # stopped while the server was unreachable
                        self.stopping.set()
            elif kind == "end":
                code, failed, why = event[1], event[2], event[3]
                ends[i] = (code, failed, why)
                if code != 0 and first is None and not self.stopping.is_set():
                    first = (i, code, failed, why)
                    self.stop_actors(set(ends))
        for pump in pumps.values():
            pump.finish()
        if self.stopping.is_set():
            return self.stopped()
        return self._finish(first, ends)

    def _finish(self, first: tuple[int, int, int | None, str | None] | None,
                ends: dict[int, tuple[int, int | None, str | None]]) -> int:
        import ray

        code = first[1] if first else next((c for c, _f, _w in ends.values() if c), 0)
        try:
            self.reporter.status("Finalizing", exit_code=code)
            for rank in range(self.world):
                own = self.log_path.parent / f"std_log_process_{rank}.txt"
                if own.is_file():
                    self.reporter.call("PUT", f"/artifacts/user_logs/{own.name}",
                                       own.read_bytes(),
                                       {"Content-Type": "application/octet-stream"})
            try:
                for lines in ray.get([a.finalize.remote() for a in self.actors]):
                    self.shipper.write(lines)
            except ray.exceptions.RayError as exc:
                return self.fail(f"the job's outputs could not be uploaded: {_why(exc)}")
            if code == 0:
                self.shipper.close()
                self.reporter.status("Completed", exit_code=0)
                return 0
            why = (first[3] if first else None) or (
                f"the command exited with code {code}" if code > 0
                else f"the command was killed by signal {-code}")
            if first is not None and first[2] is not None:
                why = (f"process rank {first[2]} of {self.world} (instance {first[0]}) failed: "
                       f"{why}; the other processes were stopped")
            self.note(why)
            self.shipper.close()
            self.reporter.status("Failed", exit_code=code, error=why)
        except base.JobGone:
            return 3
        except ConnectionError as exc:   # the server stayed away (or we were stopped meanwhile)
            print(f"[ember] could not report the job's end: {exc}", file=sys.stderr)
            return 143 if self.stopping.is_set() else 1
        return 0

    def _cleanup(self, pg: Any) -> None:
        import ray
        from ray.util.placement_group import remove_placement_group

        try:
            if self.actors:
                ray.wait([a.close.remote() for a in self.actors],
                         num_returns=len(self.actors), timeout=10)
            for actor in self.actors:
                ray.kill(actor)
            remove_placement_group(pg)
        except Exception as exc:   # the job ends anyway; Ray frees a finished job's actors
            print(f"[ember] cleaning up the job's actors: {_first_line(str(exc))}",
                  file=sys.stderr)


def run_instances(cfg: dict[str, Any]) -> int:
    """Run a job of several instances, each on its own node (the Ray job's entrypoint)."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"ember-{cfg['job'][:40]}-"))
    driver = Driver(cfg, log_dir)
    driver.catch_stop()
    try:
        return driver.run()
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
