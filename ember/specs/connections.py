"""Connection YAML (``pf connection create -f conn.yml``, ``az ml connection create``) → entity.

The shapes are promptflow's (``$schema``, ``name``, ``type`` and the type's fields at the top
level; ``configs`` and ``secrets`` mappings for ``type: custom``). Values are strings: an
unquoted ``api_version: 2024-02-01`` is a YAML date, refused with a hint to quote it (as
promptflow refuses it; converting it back could change what was written, e.g. a timestamp).
A value ``${env:VAR}`` is replaced here, on the client, by the variable's value; a variable that
is not set is an error naming it, the file and the line.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.entities.connections import CUSTOM, KINDS, META_KEYS, Connection
from ember.errors import InvalidInputError
from ember.specs._schema import Ctx, Section, asset_name, load_spec
from ember.specs.overrides import apply_overrides
from ember.specs.yamlio import type_name

ENV_REF = re.compile(r"^\$\{env:(?P<var>[^}]*)\}$")


def load_connection_spec(path: Path, overrides: list[str] | None = None, *,
                         environ: Mapping[str, str] | None = None) -> Connection:
    """The connection a YAML file describes, with ``--set`` overrides applied and ``${env:VAR}``
    values read from ``environ`` (default: this process's environment). Raises SpecError
    naming the file, line and key."""
    data, ctx = load_spec(path, overrides)
    return _connection(Section(ctx, data), os.environ if environ is None else environ)


def overridden_connection(conn: Connection, overrides: list[str], *,
                          environ: Mapping[str, str] | None = None) -> Connection:
    """An existing connection (as ``get`` gives it, secrets masked) with ``--set`` overrides
    applied (``update -n <name> --set base_url=...``), checked as a spec file would be; errors
    name ``connection <name>`` as the source. Masked secrets stay ``******``, which the server
    reads as "keep"."""
    data: dict[str, Any] = {k: v for k, v in conn.flat().items() if v is not None}
    if conn.tags:
        data["tags"] = dict(conn.tags)
    source = f"connection {conn.name}"
    record: dict[str, str] = {}
    apply_overrides(data, list(overrides), source, record=record)
    return _connection(Section(Ctx(source, Path.cwd(), record), data),
                       os.environ if environ is None else environ)


def _connection(sec: Section, environ: Mapping[str, str]) -> Connection:
    type_ = sec.get_choice("type", sorted(KINDS), required=True) or ""
    kind = KINDS[type_]
    fields = ("configs", "secrets") if type_ == CUSTOM else kind.fields
    sec.check_keys((*META_KEYS, *fields))
    name = asset_name(sec, required=True)
    tags = sec.get_str_map("tags")
    if type_ == CUSTOM:
        configs = _values(sec.section("configs"), environ)
        secrets = _values(sec.section("secrets"), environ)
    else:
        given = _values(sec, environ, only=kind.fields)
        configs = {k: v for k, v in given.items() if k in kind.configs}
        secrets = {k: v for k, v in given.items() if k in kind.secrets}
    return Connection(name=name, type=type_, configs=configs, secrets=secrets, tags=tags)


def _values(sec: Section | None, environ: Mapping[str, str], *,
            only: tuple[str, ...] | None = None) -> dict[str, str]:
    """The string values of a mapping (``only`` these keys when given), ``${env:VAR}``
    resolved. Numbers and booleans become their text, as promptflow's configs keep them."""
    if sec is None:
        return {}
    out: dict[str, str] = {}
    for key, value in sec.data.items():
        if only is not None and key not in only:
            continue
        if not isinstance(key, str) or not key:
            sec.fail(key, f"keys must be non-empty strings, not {type_name(key)}")
        if value is None:
            continue
        if isinstance(value, datetime.date):
            sec.fail(key, f"is a YAML date ({value}), not a string",
                     hint=f'quote it: {key}: "{value}"')
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            sec.fail(key, f"must be a string, not {type_name(value)}")
        ref = ENV_REF.match(text)
        if ref:
            var = ref["var"]
            if var not in environ:
                sec.fail(key, f"environment variable {var!r} is not set",
                         hint=f"export {var}=... before running, or write the value")
            text = environ[var]
        out[key] = text
    return out


def resolve_env_refs(conn: Connection, environ: Mapping[str, str] | None = None) -> Connection:
    """``conn`` with every ``${env:VAR}`` value (configs and secrets) replaced by the
    variable's value from ``environ`` (default: this process's environment); what the SDK does
    before sending. Raises InvalidInputError naming the connection, the key and the variable."""
    env = os.environ if environ is None else environ

    def resolve(values: Mapping[str, Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            ref = ENV_REF.match(value) if isinstance(value, str) else None
            if ref and ref["var"] not in env:
                raise InvalidInputError(
                    f"connection {conn.name!r}: {where}{key} is ${{env:{ref['var']}}} but "
                    f"environment variable {ref['var']!r} is not set")
            out[key] = env[ref["var"]] if ref else value
        return out

    prefix = ("configs.", "secrets.") if conn.type == CUSTOM else ("", "")
    return Connection(name=conn.name, type=conn.type, tags=dict(conn.tags),
                      configs=resolve(conn.configs, prefix[0]),
                      secrets=resolve(conn.secrets, prefix[1]),
                      creation_time=conn.creation_time,
                      last_modified_time=conn.last_modified_time)
