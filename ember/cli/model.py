from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, RegistryNameOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Models (the registry the MLflow client also reads).",
                  no_args_is_help=True)

_COLUMNS = ["name", "version", "type", "stage", "aliases", "run_id", "creation_time",
            "description"]
# az ml model list --registry-name: the containers (one row per model)
_CONTAINER_COLUMNS = ["name", "latest_version", "task", "parameters", "license"]


def _container(m: object) -> dict[str, object]:
    d = plain(m)
    return {"name": d["name"], "latest_version": str(d["version"]),
            "task": d["tags"].get("task", ""), "parameters": d["tags"].get("parameters", ""),
            "license": d["tags"].get("license", ""), "description": d["description"],
            "tags": d["tags"], "properties": d["properties"], "id": _registry_id(d)}


def _registry_id(d: dict[str, object]) -> str:
    return f"azureml://registries/{d['registry']}/models/{d['name']}/versions/{d['version']}"


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    from ember.errors import InvalidInputError

    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{flag} {item!r}: expected key=value")
        out[key] = value
    return out


@app.command("create")
def create(file: Path = typer.Option(None, "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           version: int = typer.Option(None, "--version", "-v"),
           path: str = typer.Option(None, "--path", "-p",
                                    help="local file/folder, azureml://..., runs:/..."),
           type_: str = typer.Option(None, "--type", "-t",
                                     help="custom_model (default) or mlflow_model"),
           description: str = typer.Option(None, "--description", "-d"),
           tags: list[str] = typer.Option([], "--tags", help="key=value, repeatable"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt,
           registry_name: str = RegistryNameOpt,
           output: str = OutputOpt) -> None:
    """Register a model version from YAML and/or flags (local files are uploaded). A language
    model (a GGUF file, a Hugging Face folder, a PEFT adapter) gets the catalog's card tags."""
    from ember.entities.models import Model
    from ember.errors import InvalidInputError, SpecError
    from ember.specs.models import load_model_spec

    required = ("--path is required to create a model: a local file or folder, "
                "azureml://..., or runs:/<run>/<path> (or give -f with a YAML that has path:)")
    if file:
        # --path stands in for the YAML's path: (which the YAML may then leave out).
        given = [f"path={Path(path).resolve() if Path(path).exists() else path}"] if path else []
        try:
            model = load_model_spec(file, list(set_) + given)
        except SpecError as exc:
            if exc.key == "path" and "required" in exc.message:
                raise InvalidInputError(f"{file}: {required}") from None
            raise
    else:
        if not path:
            raise InvalidInputError(required)
        if not name:
            raise InvalidInputError("--name is required to create a model (or give -f with a "
                                    "YAML that has name:)")
        model = Model(name=name, path=path, source=path)
    if name:
        model.name = name
    if version:
        model.version = version
    if path:
        model.path = model.source = path
    if type_:
        model.type = type_
    if description is not None:
        model.description = description
    model.tags.update(_pairs(tags, "--tags"))
    with client(registry_name) as c:
        emit(plain(c.models.create_or_update(model)), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"),
         version: str = typer.Option(None, "--version", "-v"),
         label: str = typer.Option(None, "--label", "-l", help="latest, or an alias"),
         registry_name: str = RegistryNameOpt,
         output: str = OutputOpt) -> None:
    """A model version (the latest when no version or label is given)."""
    with client(registry_name) as c:
        emit(plain(c.models.get(name, version, label)), output)


@app.command("list")
def list_(name: str = typer.Option(None, "--name", "-n"),
          include_archived: bool = typer.Option(False, "--include-archived"),
          registry_name: str = RegistryNameOpt,
          output: str = OutputOpt) -> None:
    """The latest version of every model, or every version of --name (of a registry's models
    with --registry-name: the catalog's containers, with their latest_version)."""
    with client(registry_name) as c:
        found = c.models.list(name, include_archived=include_archived)
    if registry_name and not name:
        emit([_container(m) for m in found], output, _CONTAINER_COLUMNS)
        return
    emit([plain(m) for m in found], output, _COLUMNS)


@app.command("update")
def update(name: str = typer.Option(..., "--name", "-n"),
           version: str = typer.Option(..., "--version", "-v"),
           description: str = typer.Option(None, "--description", "-d"),
           stage: str = typer.Option(None, "--stage"),
           tags: list[str] = typer.Option([], "--tags", help="key=value, repeatable; added"),
           set_: list[str] = typer.Option([], "--set", help="description=..., stage=..., "
                                          "tags.k=v, properties.k=v"),
           no_wait: bool = NoWaitOpt,
           registry_name: str = RegistryNameOpt,
           output: str = OutputOpt) -> None:
    """Change a version's description, stage, tags or properties."""
    from ember.errors import InvalidInputError

    with client(registry_name) as c:
        current = c.models.get(name, version)
        new_tags, new_props = dict(current.tags), dict(current.properties)
        new_tags.update(_pairs(tags, "--tags"))
        for key, value in _pairs(list(set_), "--set").items():
            if key == "description":
                description = value
            elif key == "stage":
                stage = value
            elif key.startswith("tags."):
                new_tags[key[5:]] = value
            elif key.startswith("properties."):
                new_props[key[11:]] = value
            else:
                raise InvalidInputError(f"--set {key}: a model version's description, stage, "
                                        "tags.<k> and properties.<k> can change; nothing else")
        emit(plain(c.models.update(name, version, description=description, stage=stage,
                                   tags=new_tags, properties=new_props)), output)


@app.command("archive")
def archive(name: str = typer.Option(..., "--name", "-n"),
            version: str = typer.Option(None, "--version", "-v",
                                        help="one version (default: every version)"),
            registry_name: str = RegistryNameOpt,
            output: str = OutputOpt) -> None:
    """Hide a version (or every version) from list and from "latest"."""
    with client(registry_name) as c:
        emit([plain(m) for m in c.models.archive(name, version)], output, _COLUMNS)


@app.command("restore")
def restore(name: str = typer.Option(..., "--name", "-n"),
            version: str = typer.Option(None, "--version", "-v"),
            registry_name: str = RegistryNameOpt,
            output: str = OutputOpt) -> None:
    """Undo archive."""
    with client(registry_name) as c:
        emit([plain(m) for m in c.models.restore(name, version)], output, _COLUMNS)


@app.command("download")
def download(name: str = typer.Option(..., "--name", "-n"),
             version: str = typer.Option(..., "--version", "-v"),
             download_path: Path = typer.Option(Path("."), "--download-path", "-p"),
             registry_name: str = RegistryNameOpt,
             output: str = OutputOpt) -> None:
    """Write the version's files under <download-path>/<name>/."""
    with client(registry_name) as c:
        target = c.models.download(name, version, download_path)
    emit({"name": name, "version": version, "path": str(target)}, output)
