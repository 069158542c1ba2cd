"""Prepare a job for a compute on other machines (a Ray cluster).

Nothing is built on the server: the job's working folder is made on the node that runs it.
What the server makes is

- the *stage*: the folder Ray uploads as the job's ``working_dir``, the code snapshot with
  Ember's runner under ``.ember/``. It depends only on the code and the runner, so jobs with the
  same code share one stage and Ray uploads it once (it names uploads by their content);
- the runner's configuration, passed in the job's environment, never in the stage: inputs to
  download from the server, named outputs to upload to it, the command with their paths under
  ``$EMBER_JOB_ROOT`` (the job's private folder on the node, see ``runner.run_remote``);
- the environment: a conda file's or requirements' pip list becomes Ray's ``pip`` runtime
  environment (a virtualenv on each node, cached by the list); no list: the cluster's Python.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ember.artifacts.store import ArtifactStore
from ember.engine import _runner_procs, runner
from ember.engine.environments import requirements_of
from ember.engine.flow_secrets import connections_env
from ember.engine.remote_files import RemoteJobFiles
from ember.engine.workdir import (
    _OWN_ARTIFACTS,
    _literal,
    job_env_vars,
    job_environment,
    process_plan,
)
from ember.entities.computes import Compute
from ember.entities.jobs import DEFAULT_ARTIFACTS_OUTPUT, Job
from ember.errors import UnsupportedError
from ember.services.environments import EnvironmentService
from ember.services.uploads import upload_prefix
from ember.specs.expressions import render_command

RUNNER_FILES = (Path(runner.__file__), Path(_runner_procs.__file__),
                Path(_runner_procs.__file__).with_name("_runner_ray.py"))
ROOT = "$EMBER_JOB_ROOT"


@dataclass
class RemotePrepared:
    stage: Path                     # the Ray job's working_dir
    config: dict[str, Any]          # the runner's configuration
    pip: list[str]                  # the runtime environment's pip list ([]: the cluster's Python)
    num_cpus: float                 # what the Ray job reserves on its node
    # the Ray job's other resources (GPU, custom ones) on its node
    resources: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _runner_digest() -> str:
    h = hashlib.sha256()
    for path in RUNNER_FILES:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


class RemotePreparer:
    def __init__(self, home: Path, artifacts: ArtifactStore, environments: EnvironmentService,
                 files: RemoteJobFiles,
                 connections: Callable[[str, str], dict[str, Any]] | None = None) -> None:
        self.root = home / "ray-stage"
        self.artifacts = artifacts
        self.environments = environments
        self.files = files
        self.connections = connections
        self._lock = threading.Lock()

    def stage(self, workspace: str, job: Job) -> Path:
        """The code snapshot plus the runner, made once per code digest and runner version."""
        digest = job.code.removeprefix("codes/") if job.code else "nocode"
        target = self.root / f"{workspace}-{digest}-{_runner_digest()}"
        with self._lock:
            if target.is_dir():
                return target
            tmp = self.root / f".tmp-{target.name}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            if job.code:
                self.artifacts.get_local(upload_prefix(workspace, "code", digest), tmp)
            shutil.rmtree(tmp / ".ember", ignore_errors=True)
            (tmp / ".ember").mkdir()
            for path in RUNNER_FILES:
                shutil.copy2(path, tmp / ".ember" / path.name)
            tmp.rename(target)
        return target

    def prepare(self, workspace: str, job: Job, compute: Compute, *, server_url: str,
                tracking_uri: str, retry_seconds: float, log: Callable[[bytes], int],
                token: str | None) -> RemotePrepared:
        notices: list[str] = [f"compute {compute.name!r}: a Ray cluster at {compute.address}; "
                              f"the job runs there and reports to {server_url}"]
        if _loopback(server_url) and not _loopback(compute.address):
            notices.append(f"this server's URL {server_url} is on loopback, which the "
                           "cluster's other machines cannot reach; start the server with "
                           "--host and --public-url (or EMBER_PUBLIC_URL)")
        pip = self._pip(workspace, job, compute, notices)
        stage = self.stage(workspace, job)
        inputs: dict[str, str | None] = {}
        fetch: list[list[str]] = []
        for name, inp in job.inputs.items():
            if inp.is_literal:
                inputs[name] = None if inp.value is None else _literal(inp.value)
            elif not inp.path:
                inputs[name] = None
            elif inp.mode == "direct":
                inputs[name] = inp.path
            else:
                listing = self.files.list_input(workspace, job.name, name)
                dest = f"inputs/{name}"
                fetch.append([name, dest])
                inputs[name] = (f"{ROOT}/{dest}" if listing["kind"] == "folder"
                                else f"{ROOT}/{dest}/{listing['files'][0]['path']}")
                if inp.mode in ("ro_mount", "rw_mount", "eval_mount"):
                    notices.append(f"input {name!r}: the cluster cannot mount the server's "
                                   "datastore, so it is downloaded instead")
        outputs: dict[str, str] = {}
        push: list[list[str]] = []
        for name, out in job.outputs.items():
            uri = out.path or ""
            if out.mode == "direct" or not uri.startswith("azureml://"):
                outputs[name] = uri
                continue
            rel = f"outputs/{name}"
            if out.type == "uri_file":
                rel = f"{rel}/{uri.rstrip('/').rsplit('/', 1)[-1]}"
            push.append([name, rel, out.type])
            outputs[name] = f"{ROOT}/{rel}"
        command = render_command(job.command, inputs, outputs)
        env_vars = job_env_vars(workspace, job, tracking_uri, token)
        if self.connections is not None:
            env_vars.update(connections_env(job, stage, workspace, self.connections))
        plan = process_plan(job, notices, on_ray=True)
        # the default output 'artifacts' (pipeline steps) gets what ./outputs holds
        artifacts = next((rel for name, rel, kind in push
                          if name == DEFAULT_ARTIFACTS_OUTPUT and kind == "uri_folder"), None)
        if _OWN_ARTIFACTS.search(job.command):
            artifacts = None
        per_job = float(compute.resources.get("CPU", 1))
        per_node = int(plan.get("per_instance", 1)) if plan else 1
        num_cpus = per_job * per_node
        # each of the job's processes on the node gets the compute's resources
        resources = {k: float(v) * per_node for k, v in compute.resources.items() if k != "CPU"}
        if plan and int(plan.get("instances", 1)) > 1:
            # The runner only coordinates; each instance's actor holds its node's share:
            # ``resources`` for each of the job's processes, per_instance of them.
            per = int(plan["per_instance"])
            plan = {**plan, "bundle": {**{k: float(v) * per for k, v
                                          in compute.resources.items()},
                                       "CPU": per_job * per}}
            num_cpus, resources = 0.0, {}
        cfg = {
            "server_url": server_url,
            "workspace": workspace,
            "job": job.name,
            "command": command,
            "cwd": "wd",
            "env": env_vars,
            "log_path": "user_logs/std_log.txt",
            "log_offset": log(b"".join(f"[ember] {n}\n".encode() for n in notices)),
            "retry_seconds": retry_seconds,
            "token": token,
            "fetch": fetch,
            "push": push,
            "artifacts_output": artifacts,
            "processes": plan,
        }
        return RemotePrepared(stage=stage, config=cfg, pip=pip, num_cpus=num_cpus,
                              resources=resources, notices=notices)

    def _pip(self, workspace: str, job: Job, compute: Compute, notices: list[str]) -> list[str]:
        env, label = job_environment(self.environments, workspace, job)
        if env is None:
            return []
        if env.build:
            raise UnsupportedError(
                f"environment {label} is built from a Dockerfile ('build'); the Ray compute "
                f"{compute.name!r} runs jobs in a pip environment, not a container. Use a "
                "conda_file or pip requirements instead.")
        if env.build_hash() is None:
            notices.append(f"environment {label} is the container image {env.image!r}; the Ray "
                           f"compute {compute.name!r} runs it on the cluster's Python")
            return []
        reqs, more = requirements_of(env)
        notices.extend(m.replace("the server's Python", "the cluster's Python") for m in more)
        if reqs:
            notices.append(f"environment {label}: {len(reqs)} pip requirement(s) installed by "
                           "Ray on the node (cached per requirement list)")
        return reqs
