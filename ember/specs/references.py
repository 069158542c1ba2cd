"""Azure ML asset references (``azureml:name:version``...) and data URIs.

Accepted reference forms (the registry and workspace names are parsed but
:func:`parse_asset_ref` returns only ``(name, version)``; use :func:`parse_asset_reference` for
the whole :class:`AssetRef`):

- ``azureml:<name>:<version>``
- ``azureml:<name>@latest`` and ``azureml:<name>``          → version None (latest)
- ``azureml:/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/
  workspaces/<ws>/<kind>/<name>[/versions/<v>]``           (long ARM-id form)
- ``azureml://registries/<reg>/<kind>/<name>/versions/<v>`` or ``.../labels/latest``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ember.errors import InvalidInputError

PREFIX = "azureml:"
# Azure asset names: letters, digits, '-', '_', '.'; they start with a letter or digit.
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_VERSION = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_SHORT = re.compile(rf"^(?P<name>{_NAME})(?::(?P<version>{_VERSION})|@(?P<label>{_NAME}))?$")
_ARM = re.compile(
    r"^/subscriptions/[^/]+/resource[gG]roups/[^/]+/providers/Microsoft\.MachineLearningServices"
    rf"/workspaces/(?P<ws>[^/]+)/(?P<kind>[A-Za-z]+)/(?P<name>{_NAME})"
    rf"(?:/versions/(?P<version>{_VERSION}))?/?$")
_REGISTRY = re.compile(
    rf"^//registries/(?P<reg>{_NAME})/(?P<kind>[A-Za-z]+)/(?P<name>{_NAME})"
    rf"/(?:versions/(?P<version>{_VERSION})|labels/(?P<label>{_NAME}))/?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
_MLFLOW_URI = re.compile(r"^(runs|models):/")


@dataclass(frozen=True)
class AssetRef:
    """A parsed reference. ``version`` None means the latest version."""

    name: str
    version: str | None = None
    kind: str | None = None          # "environments", "models"... when the form names it
    registry: str | None = None      # azureml://registries/<registry>/...
    workspace: str | None = None     # long ARM-id form


def parse_asset_reference(value: str) -> AssetRef:
    """Parse any accepted reference form into an :class:`AssetRef`.

    Raises InvalidInputError naming ``value`` when it is not a reference.
    """
    if not isinstance(value, str) or not value.startswith(PREFIX):
        raise InvalidInputError(f"{value!r} is not an asset reference: expected "
                                "azureml:<name>:<version> or azureml:<name>@latest")
    rest = value[len(PREFIX):]
    if rest.startswith("//"):
        m = _REGISTRY.match(rest)
        if m is None:
            raise InvalidInputError(
                f"{value!r} is not a registry reference: expected azureml://registries/<reg>/"
                "<kind>/<name>/versions/<v> or .../labels/latest")
        _check_label(value, m["label"])
        return AssetRef(m["name"], m["version"], m["kind"], registry=m["reg"])
    if rest.startswith("/"):
        m = _ARM.match(rest)
        if m is None:
            raise InvalidInputError(f"{value!r} is not a recognised ARM id reference")
        return AssetRef(m["name"], m["version"], m["kind"], workspace=m["ws"])
    m = _SHORT.match(rest)
    if m is None:
        raise InvalidInputError(f"{value!r} is not an asset reference: expected "
                                "azureml:<name>:<version> or azureml:<name>@latest")
    _check_label(value, m["label"])
    return AssetRef(m["name"], m["version"])


def _check_label(value: str, label: str | None) -> None:
    if label is not None and label != "latest":
        raise InvalidInputError(f"{value!r}: only the 'latest' label is supported")


def parse_asset_ref(value: str) -> tuple[str, str | None]:
    """Return ``(name, version)`` of a reference; version None means latest.

    The registry or workspace of the long forms is dropped (see :func:`parse_asset_reference`).
    Raises InvalidInputError naming ``value`` for anything else.
    """
    ref = parse_asset_reference(value)
    return ref.name, ref.version


def is_asset_ref(value: object) -> bool:
    """True when ``value`` is a string in one of the accepted reference forms."""
    if not isinstance(value, str):
        return False
    try:
        parse_asset_reference(value)
    except InvalidInputError:
        return False
    return True


def is_uri(value: str) -> bool:
    """True for a remote or data URI (``https://``, ``azureml://``, ``runs:/``...), False for a
    local path (``file://`` counts as local: see :func:`local_path_of`)."""
    if value.startswith("file:"):
        return False
    return bool(_SCHEME.match(value) or _MLFLOW_URI.match(value))


def local_path_of(value: str) -> str:
    """The filesystem path of a local path or ``file://`` URI."""
    if value.startswith("file://"):
        return value[len("file://"):]
    if value.startswith("file:"):
        return value[len("file:"):]
    return value
