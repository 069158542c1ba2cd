"""Materialise a job's environment on local compute.

- ``conda_file`` / pip requirements: a virtual environment built with ``uv``, cached under
  ``<home>/envs/<spec hash>`` and reused by every job with the same spec. Conda-only packages are
  translated to pip requirements (``numpy=1.26`` → ``numpy==1.26``); ``python``/``pip`` pins are
  dropped (the server's Python is used) and said so in the job log.
- ``image`` only, or no environment: local compute has no container runtime, so the job runs on
  the server's Python (with a notice in the job log for an image), in a per-job *overlay*
  virtual environment: its own ``bin`` first on ``PATH``, Ember's packages importable through a
  ``.pth`` file, and a ``pip`` that installs into the overlay, so ``pip install`` in a job never
  changes Ember's own environment.
- ``build`` (a Dockerfile): refused on local compute with a clear error.

Built environments are seeded with ``pip`` (``uv venv --seed``) and their ``bin`` goes first on
``PATH``, so a job's ``pip install`` changes that environment, never Ember's. uv reads pip's
index settings when its own are unset (``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``,
``PIP_FIND_LINKS``), so a private mirror configured for pip serves environment builds too.
"""

from __future__ import annotations

import os
import re
import site
import shutil
import subprocess
import sys
import threading
import venv
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
    bin_dir: Path                       # first on PATH
    python: Path
    notices: list[str] = field(default_factory=list)
    env_dir: Path | None = None         # VIRTUAL_ENV; None: the server's own Python
    more_bins: list[Path] = field(default_factory=list)   # on PATH after bin_dir


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

    def server_python(self, notices: list[str] | None = None,
                      overlay: Path | None = None) -> Materialized:
        """The server's Python; with ``overlay``, a fresh overlay venv there (see the module
        docstring) so the job's ``pip install`` cannot touch Ember's environment."""
        if overlay is not None:
            make_overlay(overlay, server_site_packages())
            return Materialized(bin_dir=overlay / "bin", python=overlay / "bin" / "python",
                                notices=notices or [], env_dir=overlay)
        exe = Path(sys.executable)
        return Materialized(bin_dir=exe.parent, python=exe, notices=notices or [])

    def materialize(self, env: Environment | None, label: str, log: Any = None,
                    overlay: Path | None = None) -> Materialized:
        """The interpreter a job runs with; builds (or reuses) a cached venv when needed. Jobs
        on the server's Python get an overlay venv at ``overlay`` when it is given.
        An environment tagged ``WHEELS_ONLY_TAG`` is built from wheels only, so a build that
        cannot succeed on this Python fails in seconds naming the package."""
        if env is None:
            return self.server_python(overlay=overlay)
        if env.build:
            raise UnsupportedError(
                f"environment {label} is built from a Dockerfile ('build'); local compute has no "
                "container runtime. Use a conda_file or pip requirements instead.")
        digest = env.build_hash()
        if digest is None:
            return self.server_python([
                f"environment {label} is the container image {env.image!r}; local compute has "
                f"no container runtime, so the job runs on the server's Python ({sys.executable})"
            ], overlay)
        reqs, notices = requirements_of(env)
        if env.tags.get("ember.notice"):
            notices.insert(0, env.tags["ember.notice"])
        target = self.root / digest
        with self._lock(digest):
            if not (target / ".ready").exists():
                if log is not None:
                    log(f"[ember] building environment {label} with uv "
                        f"({len(reqs)} requirement(s)); later jobs reuse it\n".encode())
                self._build(target, reqs, label, log, env.tags.get(WHEELS_ONLY_TAG) == "true")
                notices.append(f"built environment {label} with uv ({len(reqs)} requirement(s))")
            else:
                notices.append(f"reusing cached environment {label} ({target.name})")
        if overlay is not None:
            # Each job gets its own layer over the shared build, as each Azure job gets a fresh
            # container: its `pip install` stays in the job, the cached build never changes.
            make_overlay(overlay, [str(p) for p in target.glob("lib/python*/site-packages")])
            return Materialized(bin_dir=overlay / "bin", python=overlay / "bin" / "python",
                                notices=notices, env_dir=overlay, more_bins=[target / "bin"])
        return Materialized(bin_dir=target / "bin", python=target / "bin" / "python",
                            notices=notices, env_dir=target)

    def _build(self, target: Path, reqs: list[str], label: str, log: Any,
               wheels_only: bool) -> None:
        tmp = target.with_name(target.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        env = {**uv_environment(), "VIRTUAL_ENV": str(tmp)}
        venv_cmd = [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(tmp)]
        if _stream([*venv_cmd, "--seed"], env, None) is not None:
            # pip could not be fetched (an offline machine without it in uv's cache): the
            # environment has no pip of its own, and a job's `pip` says so (see make_overlay)
            shutil.rmtree(tmp, ignore_errors=True)
            if log is not None:
                log(b"[ember] pip could not be seeded into the environment; building without\n")
            steps = [venv_cmd]
        else:
            steps = []
        if reqs:
            (tmp.parent / f"{target.name}.requirements.txt").write_text("\n".join(reqs) + "\n")
            steps.append([uv, "pip", "install", "--python", str(tmp / "bin" / "python"),
                          *(["--only-binary", ":all:"] if wheels_only else []),
                          "-r", str(tmp.parent / f"{target.name}.requirements.txt")])
        for cmd in steps:
            lines = _stream(cmd, env, log)
            if lines is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                raise EnvironmentBuildError(f"building environment {label} failed: "
                                            f"{build_failure(lines)}")
        # Built aside and renamed into place (``--relocatable`` keeps its scripts working), so a
        # crash mid-build never leaves a half-built environment that looks ready.
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        (target / ".ready").write_text("ok")


def _stream(cmd: list[str], env: dict[str, str], log: Any) -> list[str] | None:
    """Run one build step, passing its output to ``log`` line by line as it comes (the
    progress a user watches); None on success, else the step's output lines."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines: list[str] = []
    for raw in proc.stdout:
        lines.append(raw.decode(errors="replace").rstrip())
        if log is not None:
            log(raw)
    return None if proc.wait() == 0 else lines


_NO_WHEELS = re.compile(r"[Bb]ecause (?P<pkg>[A-Za-z0-9_.\-]+(?:[=<>!~]=?[^ ]+)?) has no "
                        r"(?:usable |compatible )?wheels")
_BUILD_FAILED = re.compile(r"[Ff]ailed to build `?(?P<pkg>[A-Za-z0-9_.\-]+(?:==[^ `]+)?)")


def build_failure(lines: list[str]) -> str:
    """One line saying which package failed and why, from uv's output."""
    text = "\n".join(lines)
    if m := _NO_WHEELS.search(text):
        return (f"{m['pkg']} has no wheel for this Python ({sys.version.split()[0]}) and would "
                "have to be built from source")
    if m := _BUILD_FAILED.search(text):
        return f"{m['pkg']} failed to build from source"
    useful = [ln.strip() for ln in lines if ln.strip() and not ln.startswith(" ")]
    return " | ".join(useful[-3:]) or "uv failed without output"


class BuildLog:
    """Build output appended to a file (a deployment's ``build.log``), started afresh."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    def __call__(self, data: bytes) -> None:
        with self.path.open("ab") as f:
            f.write(data)


# On an Environment, this tag asks for wheels only (no source builds): set on the environments
# Ember derives from a model's own pins, which may be for another Python.
WHEELS_ONLY_TAG = "ember.wheels_only"

_PIP_TO_UV = (("PIP_INDEX_URL", "UV_INDEX_URL"), ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
              ("PIP_FIND_LINKS", "UV_FIND_LINKS"))


def uv_environment() -> dict[str, str]:
    """The server's environment, with pip's index settings passed on to uv where uv has none."""
    env = dict(os.environ)
    for pip_key, uv_key in _PIP_TO_UV:
        if env.get(pip_key) and not env.get(uv_key):
            # pip separates find-links with spaces, uv with commas
            env[uv_key] = ",".join(env[pip_key].split()) if uv_key == "UV_FIND_LINKS" \
                else env[pip_key]
    return env


_PIP_SHIM = """#!{python}
import sys
try:
    from pip._internal.cli.main import main
except ImportError:
    sys.exit("pip is not installed in this job's environment: add pip to its requirements")
sys.exit(main())
"""


def server_site_packages() -> list[str]:
    """Where the server's own packages (Ember's) are installed."""
    return [p for p in [*site.getsitepackages(),
                        *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])] if p]


def make_overlay(target: Path, under: list[str]) -> None:
    """A job's own virtual environment at ``target``, on the server's interpreter, layered
    over the site-packages folders ``under`` (the server's, or a cached build's): a ``.pth``
    file adds them after the overlay's own, and the overlay's ``pip`` installs into the
    overlay. pip refuses to uninstall what lies outside the environment it runs in, so an
    upgrade or downgrade lands in the overlay and shadows the lower copy without changing it."""
    shutil.rmtree(target, ignore_errors=True)
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(target)
    own = next(target.glob("lib/python*/site-packages"))
    (own / "_ember_layers.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in under))
    python = target / "bin" / "python"
    major, minor = sys.version_info[:2]
    for name in ("pip", "pip3", f"pip{major}.{minor}"):
        shim = target / "bin" / name
        shim.write_text(_PIP_SHIM.format(python=python))
        shim.chmod(0o755)
