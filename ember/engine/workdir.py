"""Prepare a job's working folder on local compute and write the runner's configuration.

Inputs: ``ro_mount``/``eval_mount`` give the datastore file's own local path (nothing copied),
``download``/``eval_download`` copy into ``<job>/inputs/<name>``, ``direct`` passes the URI.
Outputs on a local datastore are written in place; on a remote one they are written locally and
copied up when the runner finalises.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import fsspec

from ember.engine.flow_secrets import connections_env
from ember.engine.job_user import JobUser, hand_over
from ember.private_files import write_private
from ember.artifacts.store import ArtifactStore
from ember.artifacts.uris import is_azureml_uri
from ember.engine.environments import EnvironmentBuilder
from ember.entities.environments import Environment
from ember.entities.jobs import DEFAULT_ARTIFACTS_OUTPUT, Job
from ember.services.datastores import DatastoreService
from ember.services.environments import EnvironmentService
from ember.services.uploads import upload_prefix
from ember.specs.expressions import render_command

_OWN_ARTIFACTS = re.compile(r"\$\{\{\s*outputs\.%s\s*\}\}" % DEFAULT_ARTIFACTS_OUTPUT)


@dataclass
class Prepared:
    job_dir: Path
    config_path: Path
    notices: list[str] = field(default_factory=list)
    # Outputs written locally that must be copied to a remote datastore at finalisation.
    deferred_outputs: dict[str, tuple[Path, str]] = field(default_factory=dict)


class WorkdirPreparer:
    def __init__(self, home: Path, artifacts: ArtifactStore, datastores: DatastoreService,
                 environments: EnvironmentService, builder: EnvironmentBuilder,
                 output_uri: Any, job_user: JobUser | None = None,
                 connections: Callable[[str, str], dict[str, Any]] | None = None) -> None:
        self.home = home
        # a connection's plain form (secrets in clear), handed to flow jobs at run time
        self.connections = connections
        # jobs run as this OS user: their folders and local outputs are handed to it
        self.job_user = job_user
        self.artifacts = artifacts
        self.datastores = datastores
        self.environments = environments
        self.builder = builder
        self.output_uri = output_uri

    def job_dir(self, name: str) -> Path:
        return self.home / "jobs" / name

    def prepare(self, workspace: str, job: Job, *, server_url: str, tracking_uri: str,
                retry_seconds: float, log: Callable[[bytes], int],
                token: str | None = None) -> Prepared:
        """Build the working folder and runner.json; progress goes to the job's log via ``log``
        (which returns the log's size, so the runner continues at the right offset)."""
        job_dir = self.job_dir(job.name)
        wd = job_dir / "wd"
        if job_dir.exists():
            shutil.rmtree(job_dir)
        wd.mkdir(parents=True)
        notices: list[str] = []
        if job.compute not in ("local", "azureml:local", ""):
            notices.append(f"compute {job.compute!r} is not registered in Ember; "
                           "the job runs on local compute")
        if job.code:
            digest = job.code.removeprefix("codes/")
            self.artifacts.get_local(upload_prefix(workspace, "code", digest), wd)
        # Azure ML creates both before the command starts; what lands there is uploaded as
        # the run's artifacts when it ends (a script may open ./outputs/x.txt at once).
        for folder in ("outputs", "logs"):
            if not (wd / folder).exists():   # a file of that name in the code stays as it is
                (wd / folder).mkdir()

        env, label = job_environment(self.environments, workspace, job)
        log_path = job_dir / "user_logs" / "std_log.txt"
        log_path.parent.mkdir(parents=True, exist_ok=True)

        def build_log(data: bytes) -> None:
            log(data)

        mat = self.builder.materialize(env, label, build_log, overlay=job_dir / "venv")
        notices.extend(mat.notices)

        inputs: dict[str, str | None] = {}
        for name, inp in job.inputs.items():
            if inp.is_literal:
                inputs[name] = None if inp.value is None else _literal(inp.value)
            elif not inp.path:
                inputs[name] = None
            else:
                inputs[name] = self._input_path(workspace, name, inp.path, inp.mode or "ro_mount",
                                                job_dir, notices)
        prepared = Prepared(job_dir=job_dir, config_path=job_dir / "runner.json", notices=notices)
        outputs: dict[str, str] = {}
        for name, out in job.outputs.items():
            outputs[name] = self._output_path(workspace, name, out.path or "", out.type,
                                              out.mode, job_dir, prepared)

        command = render_command(job.command, inputs, outputs)
        env_vars = job_env_vars(workspace, job, tracking_uri, token)
        env_vars["PATH"] = os.pathsep.join([str(mat.bin_dir), *map(str, mat.more_bins),
                                            os.environ.get("PATH", "")])
        if mat.env_dir is not None:
            env_vars["VIRTUAL_ENV"] = str(mat.env_dir)
        if self.connections is not None:
            env_vars.update(connections_env(job, wd, workspace, self.connections))
        plan = process_plan(job, notices)
        cfg = {
            "server_url": server_url,
            "server_file": str(self.home / "server.json"),
            "workspace": workspace,
            "job": job.name,
            "command": command,
            "cwd": str(wd),
            "env": env_vars,
            "log_path": str(log_path),
            "log_offset": log(b"".join(f"[ember] {n}\n".encode() for n in notices)),
            "retry_seconds": retry_seconds,
            "token": token,
            "deferred_outputs": {k: [str(p), u] for k, (p, u) in
                                 prepared.deferred_outputs.items()},
            "artifacts_output": _artifacts_output(job, outputs),
            "processes": plan,
        }
        # owner-only: it holds the job's token
        write_private(prepared.config_path, json.dumps(cfg, indent=1).encode())
        if self.job_user is not None:
            hand_over(job_dir, self.job_user)
            for path in outputs.values():
                local = Path(path)
                if local.is_absolute() and local.exists() and not _inside(local, job_dir):
                    hand_over(local if local.is_dir() else local.parent, self.job_user)
        return prepared

    def _input_path(self, workspace: str, name: str, uri: str, mode: str, job_dir: Path,
                    notices: list[str]) -> str:
        if mode == "direct":
            return uri
        target_root = job_dir / "inputs" / name
        if is_azureml_uri(uri):
            store, rel = self.datastores.locate_uri(workspace, uri, self.output_uri)
            local = store.local_path(rel)
            if mode in ("ro_mount", "eval_mount") and local is not None:
                return str(local)
            if mode in ("ro_mount", "eval_mount"):
                notices.append(f"input {name!r}: the datastore is not local, so it is "
                               "downloaded instead of mounted")
            base = rel.rstrip("/").rsplit("/", 1)[-1]
            if store.isdir(rel):
                store.get_local(rel, target_root)
                return str(target_root)
            store.get_local(rel, target_root / base)
            return str(target_root / base)
        fs, path = fsspec.core.url_to_fs(uri)
        base = path.rstrip("/").rsplit("/", 1)[-1] or name
        if fs.isdir(path):
            fs.get(path, str(target_root), recursive=True)
            return str(target_root)
        target_root.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(target_root / base))
        notices.append(f"input {name!r}: {uri} downloaded")
        return str(target_root / base)

    def _output_path(self, workspace: str, name: str, uri: str, type_: str, mode: str,
                     job_dir: Path, prepared: Prepared) -> str:
        if mode == "direct" or not is_azureml_uri(uri):
            return uri
        store, rel = self.datastores.locate_uri(workspace, uri, self.output_uri)
        local = store.local_path(rel)
        if local is None:
            local = job_dir / "outputs" / name
            prepared.deferred_outputs[name] = (local, uri)
        if type_ == "uri_file":
            local.parent.mkdir(parents=True, exist_ok=True)
        else:
            local.mkdir(parents=True, exist_ok=True)
        return str(local)

    def finalize(self, workspace: str, job_dir: Path) -> None:
        """Copy outputs written locally for remote datastores up to their datastore."""
        try:
            cfg = json.loads((job_dir / "runner.json").read_text())
        except (OSError, ValueError):
            return
        for _name, (local, uri) in (cfg.get("deferred_outputs") or {}).items():
            path = Path(local)
            if path.exists():
                store, rel = self.datastores.locate_uri(workspace, uri, self.output_uri)
                store.put_local(path, rel)


def job_environment(environments: EnvironmentService, workspace: str,
                    job: Job) -> tuple[Environment | None, str]:
    """The job's environment (a reference resolved) and how logs name it."""
    env = job.environment
    if isinstance(env, str):
        return environments.resolve(workspace, env), env
    if isinstance(env, Environment):
        return env, (f"{env.name} (inline)" if env.name else "(inline)")
    return None, "(none)"


def job_env_vars(workspace: str, job: Job, tracking_uri: str,
                 token: str | None) -> dict[str, str]:
    """The variables every job's command gets, wherever it runs: its own
    ``environment_variables``, MLflow's and Azure ML's run variables, and its token."""
    env_vars = {k: str(v) for k, v in job.environment_variables.items()}
    # mlflow's telemetry thread phones home (nothing to reach on a private network) and
    # races with requests over an env var (KeyError '_MLFLOW_TELEMETRY_SESSION_ID' in
    # mlflow 3.x); a job's user can still turn it back on.
    env_vars.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env_vars.update({
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_RUN_ID": job.name,
        "MLFLOW_EXPERIMENT_ID": str(job.experiment_id or ""),
        "AZUREML_RUN_ID": job.name,
        "AZUREML_ARM_WORKSPACE_NAME": workspace,
        "AZUREML_ARM_SUBSCRIPTION": "local",
        "AZUREML_ARM_RESOURCEGROUP": "local",
        "EMBER_JOB_NAME": job.name,
        "PYTHONUNBUFFERED": "1",
        # mlflow prints links to its own web UI at end_run; Ember has no such page yet.
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    })
    if token:
        # the job's own token (engine/job_tokens.py): for the SDK and the mlflow client
        env_vars["EMBER_TOKEN"] = token
        env_vars["MLFLOW_TRACKING_TOKEN"] = token
    return env_vars


# resources keys that mean nothing on this machine (said in the job log when set).
_IGNORED_RESOURCES = ("instance_type", "shm_size", "docker_args", "locations",
                      "max_instance_count", "properties")


def process_plan(job: Job, notices: list[str], on_ray: bool = False) -> dict[str, Any] | None:
    """How many processes the runner starts and with which launcher's variables (see
    ``_runner_procs``), or None for the one plain process. Whatever of ``distribution`` and
    ``resources`` cannot be honoured goes to ``notices`` (the job log): local compute is one
    machine; on a Ray compute (``on_ray``) a pytorch or mpi job's instances run on separate
    nodes (``_runner_ray``), the plan's ``instances``."""
    dist = job.distribution or {}
    res = job.resources or {}
    instances = int(res.get("instance_count") or 1)
    where = "a Ray compute" if on_ray else "local compute"
    ignored = [k for k in _IGNORED_RESOURCES if res.get(k) is not None]
    if on_ray and "shm_size" in ignored:
        ignored.remove("shm_size")
        notices.append(f"resources shm_size {res['shm_size']}: not applied; the Ray compute's "
                       "nodes are not containers here, so processes get the node's /dev/shm")
    if ignored:
        notices.append(f"resources {', '.join(ignored)}: not applicable on {where}; ignored")
    kind = dist.get("type")
    if kind not in ("pytorch", "tensorflow", "mpi"):
        if kind is not None:
            notices.append(f"distribution type {kind!r} is not supported on {where}; "
                           "the command runs once, as a single process")
        if instances > 1:
            one = "runs once, on one node" if on_ray else "runs once"
            notices.append(f"resources.instance_count {instances} without a distribution: "
                           f"{'' if on_ray else 'local compute is one machine; '}"
                           f"the command {one}")
        return None
    spread = on_ray and instances > 1 and kind != "tensorflow"
    if kind == "tensorflow":
        workers = int(dist.get("worker_count") or instances)
        ps = int(dist.get("parameter_server_count") or 0)
        plan: dict[str, Any] = {"type": kind, "workers": workers, "ps": ps,
                                "world_size": workers + ps, "per_instance": workers + ps,
                                "instances": 1}
        what = f"{workers} worker(s)" + (f" and {ps} parameter server(s)" if ps else "")
    else:
        per = int(dist.get("process_count_per_instance") or 1)
        plan = {"type": kind, "per_instance": per, "world_size": per * instances,
                "instances": instances if spread else 1}
        what = f"{per * instances} process(es) ({instances} instance(s) x {per})"
    logs = ("each process's output is in user_logs/std_log_process_<rank>.txt, and in this "
            "log prefixed [rank <r>]")
    if spread:
        notices.append(f"distribution {kind}: {what}, each instance on its own node of the "
                       "cluster (one per node, placed by Ray); the master (MASTER_ADDR) is "
                       f"instance 0's node; {logs}")
    else:
        here = "on one node of the cluster" if on_ray else "on this machine"
        notices.append(f"distribution {kind}: {what} {here}, ranks on 127.0.0.1; {logs}")
    if instances > 1 and not spread:
        notices.append(f"resources.instance_count {instances}: "
                       + ("distribution tensorflow runs every worker on one node of the cluster"
                          if on_ray else "local compute is one machine; every instance's "
                          "processes run here") + f" (NODE_RANK 0..{instances - 1} share "
                       "127.0.0.1)")
    if kind == "mpi":
        notices.append("distribution mpi: the processes get Open MPI's OMPI_COMM_WORLD_* "
                       "variables but no mpirun/MPI runtime is started; code that calls "
                       "MPI_Init needs an MPI launcher of its own")
    return plan


def _artifacts_output(job: Job, outputs: dict[str, str]) -> str | None:
    """The local folder of the default ``artifacts`` output, which the runner fills with what
    the command wrote under ./outputs; None when the job has none, or when its command writes
    an ``artifacts`` output of its own (``${{outputs.artifacts}}``)."""
    out = job.outputs.get(DEFAULT_ARTIFACTS_OUTPUT)
    local = outputs.get(DEFAULT_ARTIFACTS_OUTPUT)
    if (out is None or not local or not os.path.isabs(local) or out.mode == "direct"
            or out.type != "uri_folder"):
        return None
    if _OWN_ARTIFACTS.search(job.command):
        return None
    return local


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
