"""The MLflow Model Registry's JSON: request fields in, registered models and versions out.

An Ember ``Model`` is one MLflow model version; its integer ``version`` travels as a string, as
MLflow's proto declares it. ``source`` is what the user registered from; the files themselves
are at ``Model.path`` (``mlflow-artifacts:/...``), which is what get-download-uri answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ember.entities.models import STAGES, Model, RegisteredModel
from ember.errors import InvalidInputError
from ember.tracking import wire

_CANONICAL_STAGES = {s.lower(): s for s in STAGES}
# Stages whose other versions archive_existing_versions may move to Archived (MLflow's rule).
ACTIVE_STAGES = ("Staging", "Production")
_ALIAS = re.compile(r"^[\w\-]{1,255}$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
MAX_TAG_KEY = 250
MAX_TAG_VALUE = 5000


# --- request fields ---

def name(body: Mapping[str, Any], field: str = "name") -> str:
    found = wire.text(body, field, required=True)
    assert found is not None
    return found


def version(body: Mapping[str, Any]) -> int:
    """The ``version`` field (a string on the wire) as the store's integer."""
    raw = body.get("version")
    if raw is None or raw == "":
        raise InvalidInputError("Missing value for required parameter 'version'.")
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:   # "³".isdigit()
        raise InvalidInputError(f"Invalid value {raw!r} for parameter 'version': a positive "
                                "integer (model versions are integers)")
    return int(text)


def description(body: Mapping[str, Any]) -> str:
    """MLflow treats an absent description as the empty one (an update clears it)."""
    return wire.text(body, "description") or ""


def canonical_stage(stage: Any) -> str:
    """MLflow accepts stages in any case (``production``) and stores the canonical spelling."""
    canonical = _CANONICAL_STAGES.get(stage.lower()) if isinstance(stage, str) else None
    if canonical is None:
        raise InvalidInputError(f"Invalid Model Version stage: {stage!r}. Value must be one of "
                                f"{', '.join(STAGES)}.")
    return canonical


def stages(values: Iterable[Any]) -> list[str]:
    return [canonical_stage(s) for s in values]


def tag(body: Mapping[str, Any]) -> tuple[str, str]:
    """The ``key`` and ``value`` of a set-tag request."""
    key = tag_key(body)
    value = body.get("value", "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInputError(f"Invalid value {value!r} for parameter 'value': a string")
    if len(value) > MAX_TAG_VALUE:
        raise InvalidInputError(f"tag {key!r}: the value is longer than {MAX_TAG_VALUE} "
                                "characters")
    return key, value


def tag_key(body: Mapping[str, Any]) -> str:
    key = name(body, "key")
    if len(key) > MAX_TAG_KEY:
        raise InvalidInputError(f"tag key {key[:40]!r}... is longer than {MAX_TAG_KEY} "
                                "characters")
    return key


def tags(body: Mapping[str, Any]) -> dict[str, str]:
    """The ``tags`` list of a create request, checked as set-tag checks one tag."""
    return dict(tag({"key": k, "value": v}) for k, v in wire.key_values(body, "tags"))


def alias(body: Mapping[str, Any], *, for_setting: bool = False) -> str:
    """An alias name. ``latest`` and ``v<digits>`` cannot be set: models:/name@latest and
    models:/name@v3 already mean something to the client."""
    found = name(body, "alias")
    if not _ALIAS.match(found):
        raise InvalidInputError(f"Invalid alias name: {found!r}. Names may only contain "
                                "alphanumerics, underscores (_), and dashes (-), at most 255.")
    if for_setting and found.lower() == "latest":
        raise InvalidInputError("'latest' alias name (case insensitive) is reserved.")
    if for_setting and _VERSION_ALIAS.match(found):
        raise InvalidInputError(f"Version alias name {found!r} is reserved.")
    return found


# --- entities out ---

def _pairs(d: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in d.items()]


def latest_versions(versions: Iterable[Model], wanted: Iterable[str] = ()) -> list[Model]:
    """The highest version in each stage (every stage when ``wanted`` is empty), in stage
    order. Versions archived in Ember's sense (hidden from lists) do not count."""
    wanted_set = set(wanted) or set(STAGES)
    best: dict[str, Model] = {}
    for m in versions:
        if m.archived or m.stage not in wanted_set:
            continue
        if m.stage not in best or best[m.stage].version < m.version:
            best[m.stage] = m
    return [best[s] for s in STAGES if s in best]


def model_version_json(m: Model) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m.name, "version": str(m.version), "creation_timestamp": m.creation_time,
        "last_updated_timestamp": m.last_update_time, "current_stage": m.stage,
        "description": m.description, "source": m.source, "run_id": m.run_id,
        "status": m.status or "READY", "tags": _pairs(m.tags), "run_link": "",
        "aliases": list(m.aliases)}
    if m.model_id:
        out["model_id"] = m.model_id
    return out


def registered_model_json(rm: RegisteredModel, versions: Iterable[Model]) -> dict[str, Any]:
    """``versions``: the model's versions, from which latest_versions is picked."""
    return {
        "name": rm.name, "creation_timestamp": rm.creation_time,
        "last_updated_timestamp": rm.last_update_time, "description": rm.description,
        "latest_versions": [model_version_json(m) for m in latest_versions(versions)],
        "tags": _pairs(rm.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(rm.aliases.items())]}
