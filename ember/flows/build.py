"""``pf flow build --format docker``: a folder that serves the flow anywhere Ember installs.

    <output>/flow/                   the flow (variant applied, ``additional_includes`` inside)
    <output>/connections/<c>.yaml    each connection the flow uses, secrets as ``${env:C_KEY}``
    <output>/Dockerfile              python slim + ``pip install ember-ml`` + ``ember pf flow serve``
    <output>/settings.json           the environment variables the container needs (the secrets)
    <output>/README.md               how to build and run it

No secret is written: each is an environment variable named ``<CONNECTION>_<KEY>`` (upper case,
promptflow's convention), and a served flow reads the connection files with those variables
filled in (``FileConnections``), so the image carries the configuration and the deployment the
secrets. promptflow's users lost connections in exactly this step (its issues #1841, #3803);
the build refuses to finish when it cannot say what a connection holds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError, NotFoundError, SpecError
from ember.flows.dag import Flow

_ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
_CONN_REF = re.compile(r"^\$\{([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)\}$")


def used_connections(flow: Flow) -> list[str]:
    """The connections the flow names: llm nodes' ``connection``, python tools' connection
    parameters, and ``${conn.key}`` in ``environment_variables``."""
    from ember.flows import tools

    names: list[str] = []
    for node in flow.nodes:
        if node.connection:
            names.append(node.connection)
    for prepared in tools.prepare_flow(flow).values():
        params = {**prepared.tool.params, **prepared.tool.init_params} if prepared.tool else {}
        for key, value in prepared.literals.items():
            param = params.get(key)
            if param is not None and param.connections and isinstance(value, str):
                names.append(value)
    for value in flow.environment_variables.values():
        found = _CONN_REF.match(str(value))
        if found:
            names.append(found[1])
    return list(dict.fromkeys(names))


def env_name(connection: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", f"{connection}_{key}".upper())


def build_docker(flow: Flow, output: Path, connections: Mapping[str, Mapping[str, Any]],
                 secrets: Mapping[str, list[str]]) -> list[Path]:
    """Write the build. ``connections``: each used connection's shown form (secrets masked);
    ``secrets``: its secret field names. Returns the files written."""
    if output.exists() and any(output.iterdir()):
        raise InvalidInputError(f"{output} is not empty; give an empty or new folder")
    target = output / "flow"
    shutil.copytree(flow.folder, target, ignore=shutil.ignore_patterns(
        ".runs", "__pycache__", ".promptflow"))
    for include in flow.additional_includes:
        src = (flow.folder / include).resolve()
        dst = target / src.name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    _rewrite_dag(flow, target / flow.path.name)
    written = [target]
    env: dict[str, str] = {}
    conn_dir = output / "connections"
    conn_dir.mkdir()
    for name, shown in connections.items():
        body: dict[str, Any] = {"name": name, "type": shown["type"]}
        if shown["type"] == "custom":
            body["configs"] = dict(shown.get("configs") or {})
            body["secrets"] = {}
            for key in secrets.get(name, []):
                var = env_name(name, key)
                body["secrets"][key] = "${env:" + var + "}"
                env[var] = ""
        else:
            for key, value in shown.items():
                if key in ("name", "type", "module", "created_date", "last_modified_date",
                           "expiry_time", "tags"):
                    continue
                if key in secrets.get(name, []):
                    var = env_name(name, key)
                    body[key] = "${env:" + var + "}"
                    env[var] = ""
                elif value is not None:
                    body[key] = value
        path = conn_dir / f"{name}.yaml"
        path.write_text(json.dumps(body, indent=2) + "\n")  # JSON is YAML
        written.append(path)
    (output / "settings.json").write_text(json.dumps(env, indent=2) + "\n")
    (output / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "RUN pip install --no-cache-dir ember-ml\n"
        "COPY flow /flow\nCOPY connections /connections\n"
        "RUN if [ -f /flow/requirements.txt ]; then grep -viE '^promptflow' "
        "/flow/requirements.txt > /tmp/req.txt; pip install --no-cache-dir -r /tmp/req.txt; fi\n"
        "EXPOSE 8080\n"
        'CMD ["ember", "pf", "flow", "serve", "--source", "/flow", "--host", "0.0.0.0", '
        '"--port", "8080", "--connections-dir", "/connections"]\n')
    lines = "\n".join(f"    -e {k}=..." for k in env) or "    (no secrets needed)"
    (output / "README.md").write_text(
        f"# {flow.name or flow.folder.name}, built by `ember pf flow build`\n\n"
        "    docker build -t my-flow .\n"
        f"    docker run -p 8080:8080 \\\n{lines} \\\n    my-flow\n\n"
        "Without Docker: `ember pf flow serve --source flow --connections-dir connections` "
        "with the same environment variables set.\n")
    return [*written, output / "settings.json", output / "Dockerfile", output / "README.md"]


def _rewrite_dag(flow: Flow, path: Path) -> None:
    """Drop ``additional_includes`` (copied in) and pin the chosen variants as defaults."""
    from ruamel.yaml import YAML

    from ember.specs.yamlio import load_yaml_text

    doc = load_yaml_text(path.read_text(encoding="utf-8"), str(path))
    doc.pop("additional_includes", None)
    for name, variants in (doc.get("node_variants") or {}).items():
        chosen = next((n.variant_id for n in flow.nodes if n.name == name and n.variant_id),
                      None)
        if chosen:
            variants["default_variant_id"] = chosen
    with path.open("w", encoding="utf-8") as fh:
        YAML(typ="rt").dump(doc, fh)


class FileConnections:
    """Connections from a build's ``connections/`` folder, ``${env:VAR}`` filled from the
    environment, and promptflow's serving rule on top: a variable ``<CONN>_<KEY>`` overrides
    that field."""

    def __init__(self, folder: Path, environ: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.environ = dict(os.environ if environ is None else environ)

    def get(self, name: str) -> dict[str, Any]:
        from ember.specs.yamlio import load_yaml_text

        path = self.folder / f"{name}.yaml"
        if not path.is_file():
            raise NotFoundError(f"connection {name!r} not found in {self.folder}")
        doc = load_yaml_text(path.read_text(encoding="utf-8"), str(path))
        if not isinstance(doc, Mapping) or "type" not in doc:
            raise SpecError("a connection file holds a mapping with a type", file=str(path))
        plain = json.loads(json.dumps(doc))
        plain["name"] = name
        for section in (plain, plain.get("configs") or {}, plain.get("secrets") or {}):
            for key, value in list(section.items()):
                found = _ENV_REF.match(value) if isinstance(value, str) else None
                if found:
                    if found[1] not in self.environ:
                        raise InvalidInputError(f"connection {name!r}: {key} reads environment "
                                                f"variable {found[1]}, which is not set")
                    section[key] = self.environ[found[1]]
                override = self.environ.get(env_name(name, key))
                if override is not None and key not in ("name", "type"):
                    section[key] = override
        return plain

