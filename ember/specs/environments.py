"""Environment YAML (reference 1.5) → :class:`~ember.entities.environments.Environment`.

Decisions:

- Exactly one of ``image`` / ``build``; a ``conda_file`` alone is also accepted (Ember can build
  it locally without a base image). ``conda_file`` with ``build`` is refused: put it in the
  Dockerfile.
- ``conda_file`` is a path relative to the YAML (``.txt`` is read as pip requirement lines into
  ``pip_requirements``; any other extension is parsed as conda YAML into ``conda_file``) or an
  inline mapping.
- ``build.path`` (local) is resolved to an absolute folder that must hold ``dockerfile_path``
  (default ``Dockerfile``); the entity gets ``build={"path": ..., "dockerfile_path": ...}``.
- ``version`` may be an integer or a string and is stored as a string; a float such as ``1.10``
  is refused (YAML would have read it as 1.1).
- ``properties`` is accepted and validated but not kept (the entity has no such field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.entities.environments import Environment
from ember.errors import SpecError
from ember.specs._schema import Ctx, Section, asset_name, asset_version, load_spec, plain
from ember.specs.yamlio import load_yaml, type_name

ENVIRONMENT_KEYS = ("$schema", "name", "version", "description", "tags", "image", "build",
                    "conda_file", "os_type", "inference_config", "properties")
_BUILD_KEYS = ("path", "dockerfile_path")
_INFERENCE_KEYS = ("liveness_route", "readiness_route", "scoring_route")
_ROUTE_KEYS = ("path", "port")


def load_environment_spec(path: Path, overrides: list[str] | None = None) -> Environment:
    """Load an environment YAML file, apply ``--set`` overrides, validate.

    Raises SpecError naming the file, line and key of the first problem.
    """
    data, ctx = load_spec(path, overrides)
    return environment_from_section(Section(ctx, data), inline=False)


def environment_from_dict(data: dict[str, Any], source: str, base_dir: Path,
                          inline: bool = False, *,
                          overridden: dict[str, str] | None = None) -> Environment:
    """Validate a loaded environment mapping; ``inline`` for one embedded in a job (no name).

    Local paths resolve relative to ``base_dir``; errors name ``source``.
    """
    ctx = Ctx(source, Path(base_dir), overridden or {})
    return environment_from_section(Section(ctx, data), inline=inline)


def environment_from_section(sec: Section, *, inline: bool) -> Environment:
    """Build the Environment from one mapping (top level, or a job's ``environment``)."""
    # An inline environment may carry a name and version, as Azure ML's own deployment
    # examples do; they label it (in logs and `show`), nothing is registered.
    sec.check_keys(ENVIRONMENT_KEYS)
    name = asset_name(sec, required=not inline)
    image = sec.get_str("image")
    if image and sec.has("build"):
        sec.fail("build", "give either 'image' or 'build', not both")
    if sec.has("build") and sec.has("conda_file"):
        sec.fail("conda_file", "cannot be combined with 'build'",
                 hint="install the conda packages in the Dockerfile")
    build = _build(sec)
    conda_file, pip_requirements = _conda(sec)
    if not image and not build and conda_file is None and pip_requirements is None:
        sec.fail(None, "an environment needs 'image' or 'build' (or a 'conda_file')")
    sec.get_str_map("properties")
    return Environment(
        name=name,
        version=asset_version(sec),
        image=image,
        conda_file=conda_file,
        pip_requirements=pip_requirements,
        build=build,
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"),
        os_type=sec.get_choice("os_type", ("linux", "windows"), "linux") or "linux",
        inference_config=_inference_config(sec),
    )


def _build(sec: Section) -> dict[str, Any] | None:
    sub = sec.section("build")
    if sub is None:
        return None
    sub.check_keys(_BUILD_KEYS)
    dockerfile = sub.get_str("dockerfile_path") or "Dockerfile"
    context = sub.path_or_uri("path", kind="dir")
    if context is None:
        sub.fail("path", "is required (the Docker build context folder)")
    if Path(context).is_absolute() and not (Path(context) / dockerfile).is_file():
        sub.fail("dockerfile_path", f"no '{dockerfile}' in the build context {context}")
    return {"path": context, "dockerfile_path": dockerfile}


def _conda(sec: Section) -> tuple[dict[str, Any] | None, list[str] | None]:
    value = sec.get("conda_file")
    if value is None:
        return None, None
    if isinstance(value, dict):
        return _check_conda(sec, plain(value)), None
    if not isinstance(value, str):
        sec.fail("conda_file", f"must be a path or a mapping, not {type_name(value)}")
    path = Path(sec.local_path("conda_file", value, kind="file"))
    if path.suffix.lower() == ".txt":
        return None, _pip_lines(sec, path)
    try:
        data = load_yaml(path)
    except SpecError as exc:
        sec.fail("conda_file", exc.message)
    return _check_conda(sec, plain(data)), None


def _check_conda(sec: Section, conda: dict[str, Any]) -> dict[str, Any]:
    deps = conda.get("dependencies")
    if deps is not None and not isinstance(deps, list):
        sec.fail("conda_file", f"'dependencies' must be a list, not {type_name(deps)}")
    return conda


def _pip_lines(sec: Section, path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        sec.fail("conda_file", f"cannot read {path}: {exc}")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _inference_config(sec: Section) -> dict[str, Any] | None:
    sub = sec.section("inference_config")
    if sub is None:
        return None
    sub.check_keys(_INFERENCE_KEYS)
    for key in _INFERENCE_KEYS:
        route = sub.section(key)
        if route is not None:
            route.check_keys(_ROUTE_KEYS)
            route.get_str("path")
            route.get_int("port", minimum=1)
    return plain(sub.data)
