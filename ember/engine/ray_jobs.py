"""Jobs on Ray computes: submitted through Ray's job-submission API, watched, stopped, reattached.

The Ray job's entrypoint is Ember's own runner (``python -S .ember/runner.py --config-env``, see
``remote_workdir``), so status, logs, MLflow metrics and outputs reach the server over HTTP with
the job's token exactly as from a local runner; Ray supplies the process on a node, the runtime
environment, placement and stopping. Ray's own record of a job is read only to learn that its
process ended, and why when the runner could not say (a runtime environment that failed to
install, say).

A job whose runner reported its end is no longer watched (``unwatch``): the runner said
everything. One poller thread per cluster address watches the rest, for the jobs whose runner
never reports (a runtime environment that fails to install, a node that dies, a head that
restarts): a few are asked for one by one, many at once with one list of the cluster's jobs
(whose cost grows with the cluster's history: Ray keeps every job), and each watched job's end
goes to ``on_end``. Only this module imports Ray (the ``ray``
extra), and only when a Ray compute is used.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ember.entities.computes import RAY_EXTRA_HINT
from ember.errors import EmberError, ServerUnavailableError, UnsupportedError

log = logging.getLogger("ember.ray")
POLL_SECONDS = 1.0
# Up to this many watched jobs are asked for one by one (a request each, constant cost); more,
# with one list of every job the cluster has run.
ONE_BY_ONE = 8
# A watched job missing from the cluster's list this many polls in a row is lost (the head
# restarted: Ray keeps job records in the head's memory).
MISSING_POLLS = 3
ENTRYPOINT = "python -S .ember/runner.py --config-env"
MAX_DETAIL = 20_000
AGENT_WAIT_SECONDS = 60.0


@dataclass
class RayEnd:
    status: str      # Ray's: SUCCEEDED, FAILED or STOPPED; LOST when the cluster forgot the job
    message: str     # Ray's message (its first line), or why the job is lost
    detail: str = ""  # Ray's whole message (its tail, at most MAX_DETAIL characters)


def submission_id(workspace: str, job: str) -> str:
    return f"ember-{workspace}-{job}"


def require_ray() -> Any:
    """``ray.job_submission``, or an error naming the extra."""
    try:
        from ray import job_submission
    except ImportError:
        raise UnsupportedError("running on a Ray compute needs Ray on the Ember server: "
                               f"{RAY_EXTRA_HINT}") from None
    return job_submission


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


class RayJobs:
    def __init__(self, on_end: Callable[[str, str, RayEnd], None]) -> None:
        self.on_end = on_end
        self._clients: dict[str, Any] = {}
        self._watched: dict[str, dict[str, tuple[str, str]]] = {}   # address → sid → (ws, job)
        self._missing: dict[str, int] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def client(self, address: str, compute: str = "") -> Any:
        """The cluster's job-submission client (one per address); an unreachable cluster is a
        one-line error naming the compute and the address."""
        with self._lock:
            found = self._clients.get(address)
        if found is not None:
            return found
        module = require_ray()
        try:
            made = module.JobSubmissionClient(address)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError or ValueError
            what = f"the Ray compute {compute!r}" if compute else "the Ray cluster"
            raise ServerUnavailableError(f"{what} at {address} cannot be reached: "
                                         f"{_first_line(str(exc))}") from None
        with self._lock:
            return self._clients.setdefault(address, made)

    def submit(self, address: str, compute: str, sid: str, *, working_dir: str,
               env_vars: dict[str, str], pip: list[str], num_cpus: float,
               resources: dict[str, float], metadata: dict[str, str]) -> None:
        """Submit the runner as Ray job ``sid``; a job of that id already there (a submit
        retried after the server stopped midway) is adopted."""
        client = self.client(address, compute)
        runtime_env: dict[str, Any] = {"working_dir": working_dir, "env_vars": env_vars}
        if pip:
            runtime_env["pip"] = pip
        extra = {k: float(v) for k, v in resources.items() if k != "CPU" and v}
        deadline = time.monotonic() + AGENT_WAIT_SECONDS
        delay = 0.2
        while True:
            try:
                client.submit_job(entrypoint=ENTRYPOINT, submission_id=sid,
                                  runtime_env=runtime_env, metadata=metadata,
                                  entrypoint_num_cpus=num_cpus,
                                  entrypoint_resources=extra or None)
                return
            except Exception as exc:  # the job API answers errors as RuntimeError with the body
                text = str(exc)
            # A cluster that has just started answers this until its job agent is up.
            if "No available agent" not in text or time.monotonic() > deadline:
                break
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)
        if self.details(address, sid) is not None:
            return
        if "413" in text:
            raise EmberError(f"the job's code is too large for the Ray compute {compute!r}: "
                             "Ray takes at most 100 MiB (zipped) as a job's working "
                             "directory; leave large files out with .amlignore or read them "
                             "as inputs")
        raise EmberError(f"the Ray compute {compute!r} at {address} refused the job: "
                         f"{_first_line(text)}")

    def details(self, address: str, sid: str) -> Any:
        """Ray's record of job ``sid`` (``JobDetails``), or None when the cluster has none."""
        client = self.client(address)
        try:
            return client.get_job_info(sid)
        except Exception as exc:
            if "404" in str(exc) or "does not exist" in str(exc):
                return None
            raise ServerUnavailableError(f"the Ray cluster at {address} did not answer for job "
                                         f"{sid}: {_first_line(str(exc))}") from None

    def logs(self, address: str, sid: str) -> str:
        """Ray's log of job ``sid`` ('' when it cannot be read)."""
        try:
            return str(self.client(address).get_job_logs(sid))
        except Exception as exc:  # the end is reported anyway; the log is a courtesy
            log.warning("could not read Ray's log of %s: %s", sid, _first_line(str(exc)))
            return ""

    def stop(self, address: str, sid: str) -> None:
        """Stop job ``sid`` (Ray sends SIGTERM to its process tree, SIGKILL after the job's
        ``RAY_JOB_STOP_WAIT_TIME_S``)."""
        try:
            self.client(address).stop_job(sid)
        except Exception as exc:  # ended meanwhile, or the cluster is away: the poller tells
            log.warning("could not stop Ray job %s: %s", sid, _first_line(str(exc)))

    # --- watching ---------------------------------------------------------------------------

    def watch(self, address: str, sid: str, workspace: str, job: str) -> None:
        with self._lock:
            self._watched.setdefault(address, {})[sid] = (workspace, job)
            thread = self._threads.get(address)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._poll, args=(address,), daemon=True,
                                          name=f"ember-ray-{address}")
                self._threads[address] = thread
                thread.start()

    def unwatch(self, sid: str) -> None:
        """Stop watching job ``sid`` (its runner reported its end)."""
        with self._lock:
            for watched in self._watched.values():
                watched.pop(sid, None)
        self._missing.pop(sid, None)

    def _states(self, address: str, sids: list[str]) -> dict[str, Any]:
        """Ray's record of each of ``sids`` the cluster knows (absent: it does not)."""
        client = self.client(address)
        if len(sids) > ONE_BY_ONE:
            return {d.submission_id: d for d in client.list_jobs()}
        found = {}
        for sid in sids:
            details = self.details(address, sid)
            if details is not None:
                found[sid] = details
        return found

    def close(self) -> None:
        """Stop watching (the jobs go on; the next server reattaches them)."""
        self._stop.set()

    def _poll(self, address: str) -> None:
        while not self._stop.is_set():
            with self._lock:
                watched = dict(self._watched.get(address, {}))
                if not watched:
                    self._threads.pop(address, None)
                    return
            try:
                listed = self._states(address, list(watched))
            except Exception as exc:  # the cluster is away for now: keep the jobs, try again
                log.warning("could not list the jobs of the Ray cluster at %s: %s", address,
                            _first_line(str(exc)))
                self._stop.wait(POLL_SECONDS * 4)
                continue
            with self._lock:   # unwatched while the cluster was asked
                watched = {sid: v for sid, v in watched.items()
                           if sid in self._watched.get(address, {})}
            for sid, (workspace, job) in watched.items():
                found = listed.get(sid)
                end = None
                if found is None:
                    self._missing[sid] = self._missing.get(sid, 0) + 1
                    if self._missing[sid] >= MISSING_POLLS:
                        end = RayEnd("LOST", f"the Ray cluster at {address} no longer knows job "
                                             f"{sid} (was its head restarted?)")
                elif found.status.is_terminal():
                    end = RayEnd(str(found.status.value), _first_line(found.message or ""),
                                 (found.message or "")[-MAX_DETAIL:])
                if end is None:
                    continue
                with self._lock:
                    self._watched.get(address, {}).pop(sid, None)
                self._missing.pop(sid, None)
                try:
                    self.on_end(workspace, job, end)
                except Exception:  # one job's bookkeeping must not stop the others' watch
                    log.exception("ending job %s after its Ray job ended failed", job)
            self._stop.wait(POLL_SECONDS)
