"""Parse ``azureml://`` data URIs into (datastore, path) or (job, output, path)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ember.artifacts.paths import safe_relpath
from ember.errors import InvalidInputError

_DATASTORE = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/?(?P<path>.*)$")
_JOB_OUTPUT = re.compile(
    r"^azureml://jobs/(?P<job>[^/]+)/outputs/(?P<out>[^/]+)(?:/paths/?(?P<path>.*))?$")
# The long form Azure ML also emits: azureml://subscriptions/.../workspaces/<ws>/datastores/...
_LONG_DATASTORE = re.compile(
    r"^azureml://subscriptions/[^/]+/resource[gG]roups/[^/]+/workspaces/[^/]+/datastores/"
    r"(?P<ds>[^/]+)/paths/?(?P<path>.*)$")


@dataclass(frozen=True)
class DatastoreUri:
    datastore: str
    path: str

    def __str__(self) -> str:
        return f"azureml://datastores/{self.datastore}/paths/{self.path}"


@dataclass(frozen=True)
class JobOutputUri:
    job: str
    output: str
    path: str


def parse_azureml_uri(uri: str) -> DatastoreUri | JobOutputUri:
    for pattern in (_DATASTORE, _LONG_DATASTORE):
        m = pattern.match(uri)
        if m:
            return DatastoreUri(m["ds"], safe_relpath(m["path"]))
    m = _JOB_OUTPUT.match(uri)
    if m:
        return JobOutputUri(m["job"], m["out"], safe_relpath(m["path"] or ""))
    raise InvalidInputError(
        f"{uri!r} is not a recognised azureml:// URI (expected "
        "azureml://datastores/<ds>/paths/<p> or azureml://jobs/<job>/outputs/<out>/paths/<p>)")


def is_azureml_uri(value: str) -> bool:
    return value.startswith("azureml://")


def is_remote_uri(value: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value))
