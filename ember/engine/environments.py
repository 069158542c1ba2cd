"""Materialise a job's environment on local compute.

- ``conda_file`` / pip requirements: a virtual environment built with ``uv``, cached under
  ``<home>/envs/<spec hash>`` and reused by every job with the same spec. Conda-only packages are
  translated to pip requirements (``numpy=1.26`` → ``numpy==1.26``); ``python``/``pip`` pins are
  dropped (the server's Python is used) and said so in the job log.
- ``image`` only: local compute has no container runtime, so the job runs on the server's Python,
  with a notice in the job log.
- ``build`` (a Dockerfile): refused on local compute with a clear error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.entities.environments import Environment
from ember.errors import EnvironmentBuildError, UnsupportedError

# Packages whose job Ember does itself (MLflow tracking is native) or that need Azure.
_SKIPPED_PIP = re.compile(r"^(azureml-mlflow|azureml-core|azureml-defaults|azure-ai-ml)\b", re.I)
_CONDA_SKIP = {"python", "pip"}


@dataclass
class Materialized:
    bin_dir: Path
    python: Path
    notices: list[str] = field(default_factory=list)
    env_dir: Path | None = None


def requirements_of(env: Environment) -> tuple[list[str], list[str]]:
    """(pip requirement lines, notices) for an environment's conda file / pip list."""
    reqs: list[str] = []
    notices: list[str] = []
    if env.conda_file:
        for dep in env.conda_file.get("dependencies", []) or []:
            if isinstance(dep, dict):
                reqs.extend(str(x) for x in dep.get("pip", []) or [])
                continue
            spec = str(dep).split("::")[-1].strip()
            name = re.split(r"[=<>!~ ]", spec, maxsplit=1)[0]
            if name.lower() in _CONDA_SKIP:
                notices.append(f"conda dependency {spec!r} ignored: jobs use the server's "
                               f"Python {sys.version.split()[0]}")
                continue
            m = re.match(r"^([A-Za-z0-9_.\-]+)\s*=\s*([^=<>!~ ]+)$", spec)
            reqs.append(f"{m[1]}=={m[2]}" if m else spec)
    if env.pip_requirements:
        reqs.extend(env.pip_requirements)
    kept = []
    for r in reqs:
        r = r.strip()
        if not r or r.startswith("#"):
            continue
        if _SKIPPED_PIP.match(r):
            notices.append(f"requirement {r!r} skipped: Ember provides MLflow tracking natively")
            continue
        kept.append(r)
    return kept, notices


class EnvironmentBuilder:
    def __init__(self, home: Path) -> None:
        self.root = home / "envs"
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def server_python(self, notices: list[str] | None = None) -> Materialized:
        exe = Path(sys.executable)
        return Materialized(bin_dir=exe.parent, python=exe, notices=notices or [])

    def materialize(self, env: Environment | None, label: str, log: Any = None) -> Materialized:
        """The interpreter a job runs with; builds (or reuses) a cached venv when needed."""
        if env is None:
            return self.server_python()
        if env.build:
            raise UnsupportedError(
                f"environment {label} is built from a Dockerfile ('build'); local compute has no "
                "container runtime. Use a conda_file or pip requirements instead.")
        digest = env.build_hash()
        if digest is None:
            return self.server_python([
                f"environment {label} is the container image {env.image!r}; local compute has "
                f"no container runtime, so the job runs on the server's Python ({sys.executable})"
            ])
        reqs, notices = requirements_of(env)
        target = self.root / digest
        with self._lock(digest):
            if not (target / ".ready").exists():
                if log is not None:
                    log(f"[ember] building environment {label} with uv "
                        f"({len(reqs)} requirement(s)); later jobs reuse it\n".encode())
                self._build(target, reqs, label, log)
                notices.append(f"built environment {label} with uv ({len(reqs)} requirement(s))")
            else:
                notices.append(f"reusing cached environment {label} ({target.name})")
        return Materialized(bin_dir=target / "bin", python=target / "bin" / "python",
                            notices=notices, env_dir=target)

    def _build(self, target: Path, reqs: list[str], label: str, log: Any) -> None:
        tmp = target.with_name(target.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        env = {**os.environ, "VIRTUAL_ENV": str(tmp)}
        steps = [[uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(tmp)]]
        if reqs:
            (tmp.parent / f"{target.name}.requirements.txt").write_text("\n".join(reqs) + "\n")
            steps.append([uv, "pip", "install", "--python", str(tmp / "bin" / "python"),
                          "-r", str(tmp.parent / f"{target.name}.requirements.txt")])
        for cmd in steps:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if log is not None:
                log((proc.stdout + proc.stderr).encode())
            if proc.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise EnvironmentBuildError(
                    f"building environment {label} failed: {' | '.join(tail)}")
        # Built aside and renamed into place (``--relocatable`` keeps its scripts working), so a
        # crash mid-build never leaves a half-built environment that looks ready.
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        (target / ".ready").write_text("ok")
