"""MLflow's JSON wire format: request fields in, entities out, page tokens.

Parsing is by hand on orjson-decoded dicts (no pydantic on the hot paths). Proto3 JSON allows
int64 as strings and doubles as "NaN"/"Infinity"; both are accepted, and NaN is sent as "NaN".
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ember.errors import InvalidInputError
from ember.entities.tracking import (
    DatasetInput,
    Experiment,
    HistoryPoint,
    LoggedModel,
    Metric,
    ModelOutput,
    Run,
    RunInfo,
)

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def loads(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError("request body must be a JSON object")
    return data


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)


# --- request fields ---

def text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInputError(f"Missing value for required parameter '{name}'.")
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': a string")
    return value


def integer(body: Mapping[str, Any], name: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInputError(f"Missing value for required parameter '{name}'.")
        return None
    return as_int(value, name)


def as_int(value: Any, name: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': an integer")


def as_float(value: Any, name: str) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    if value is None:
        raise InvalidInputError(f"Missing value for required parameter '{name}'.")
    raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': a double")


def boolean(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def run_id(body: Mapping[str, Any]) -> str:
    """The client sends both run_id and the legacy run_uuid."""
    found = text(body, "run_id") or text(body, "run_uuid", required=True)
    assert found is not None
    return found


def items(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInputError(f"Invalid value for parameter '{name}': a list")
    return value


def key_values(body: Mapping[str, Any], name: str) -> list[tuple[Any, Any]]:
    """(key, value) pairs as sent; the service checks their types and syntax."""
    out = []
    for i, kv in enumerate(items(body, name)):
        if not isinstance(kv, dict):
            raise InvalidInputError(f"Invalid value for parameter '{name}[{i}]': an object")
        out.append((kv.get("key"), kv.get("value", "")))
    return out


def metric(m: Any, where: str) -> Metric:
    if not isinstance(m, dict):
        raise InvalidInputError(f"Invalid value for parameter '{where}': an object")
    ts = m.get("timestamp")
    step = m.get("step", 0)
    at = f"{where}." if where else ""
    return Metric(
        key=m.get("key"),  # type: ignore[arg-type]
        value=as_float(m.get("value"), f"{at}value"),
        timestamp=ts if type(ts) is int else as_int(ts, f"{at}timestamp"),
        step=step if type(step) is int else as_int(step, f"{at}step"),
        model_id=m.get("model_id") or None, dataset_name=m.get("dataset_name") or None,
        dataset_digest=m.get("dataset_digest") or None)


def metrics(body: Mapping[str, Any]) -> list[Metric]:
    """The hot path of log-batch: well-formed metrics skip the per-field checks of metric()."""
    out: list[Metric] = []
    append = out.append
    for i, m in enumerate(items(body, "metrics")):
        try:
            value, ts, step = m["value"], m["timestamp"], m.get("step", 0)
        except (KeyError, TypeError, AttributeError):
            append(metric(m, f"metrics[{i}]"))
            continue
        if type(value) is not float or type(ts) is not int or type(step) is not int \
                or len(m) > 4:
            append(metric(m, f"metrics[{i}]"))
            continue
        append(Metric(m.get("key"), value, ts, step))
    return out


def dataset_inputs(body: Mapping[str, Any]) -> list[DatasetInput]:
    out = []
    for i, item in enumerate(items(body, "datasets")):
        ds = item.get("dataset") if isinstance(item, dict) else None
        if not isinstance(ds, dict) or not ds.get("name") or not ds.get("digest"):
            raise InvalidInputError(f"datasets[{i}].dataset needs a name and a digest")
        out.append(DatasetInput(
            name=str(ds["name"]), digest=str(ds["digest"]),
            source_type=str(ds.get("source_type", "")), source=str(ds.get("source", "")),
            schema=str(ds.get("schema", "")), profile=str(ds.get("profile", "")),
            tags={str(k): str(v) for k, v in key_values(item, "tags")}))
    return out


def model_ids(body: Mapping[str, Any], name: str = "models") -> list[str]:
    out = []
    for i, item in enumerate(items(body, name)):
        if not isinstance(item, dict) or not item.get("model_id"):
            raise InvalidInputError(f"{name}[{i}] needs a model_id")
        out.append(str(item["model_id"]))
    return out


def model_outputs(body: Mapping[str, Any]) -> list[ModelOutput]:
    return [ModelOutput(model_id, as_int(item.get("step", 0), f"models[{i}].step"))
            for i, (model_id, item) in enumerate(zip(model_ids(body), items(body, "models")))]


# --- page tokens ---

def offset_token(offset: int | None) -> str | None:
    if offset is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def token_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except Exception as exc:
        raise InvalidInputError(f"Invalid page token {token!r}") from exc
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"Invalid page token {token!r}")
    return offset


def cursor_token(cursor: tuple[int, int, int] | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(list(cursor))).decode()


def token_cursor(token: str | None) -> tuple[int, int, int] | None:
    if not token:
        return None
    try:
        step, ts, row = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(step), int(ts), int(row)
    except Exception as exc:
        raise InvalidInputError(f"Invalid page token {token!r}") from exc


# --- entities out ---

def _value(value: float) -> float | str:
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _pairs(d: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in d.items()]


def experiment_json(e: Experiment) -> dict[str, Any]:
    return {"experiment_id": e.experiment_id, "name": e.name,
            "artifact_location": e.artifact_location, "lifecycle_stage": e.lifecycle_stage,
            "creation_time": e.creation_time, "last_update_time": e.last_update_time,
            "tags": _pairs(e.tags)}


def run_info_json(i: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": i.run_id, "run_uuid": i.run_id, "run_name": i.run_name,
        "experiment_id": i.experiment_id, "user_id": i.user_id, "status": i.status,
        "artifact_uri": i.artifact_uri, "lifecycle_stage": i.lifecycle_stage}
    if i.start_time is not None:
        out["start_time"] = i.start_time
    if i.end_time is not None:
        out["end_time"] = i.end_time
    return out


def metric_json(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {"key": m.key, "value": _value(m.value), "timestamp": m.timestamp,
                           "step": m.step}
    if m.model_id:
        out["model_id"] = m.model_id
    if m.dataset_name:
        out["dataset_name"] = m.dataset_name
    if m.dataset_digest:
        out["dataset_digest"] = m.dataset_digest
    return out


def run_json(r: Run) -> dict[str, Any]:
    return {
        "info": run_info_json(r.info),
        "data": {"metrics": [metric_json(m) for m in r.metrics], "params": _pairs(r.params),
                 "tags": _pairs(r.tags)},
        "inputs": {
            "dataset_inputs": [{"tags": _pairs(d.tags), "dataset": {
                "name": d.name, "digest": d.digest, "source_type": d.source_type,
                "source": d.source, "schema": d.schema, "profile": d.profile}}
                for d in r.dataset_inputs],
            "model_inputs": [{"model_id": m} for m in r.model_inputs]},
        "outputs": {"model_outputs": [{"model_id": o.model_id, "step": o.step}
                                      for o in r.model_outputs]},
    }


def logged_model_json(m: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": m.model_id, "experiment_id": m.experiment_id, "name": m.name,
        "creation_timestamp_ms": m.creation_timestamp_ms,
        "last_updated_timestamp_ms": m.last_updated_timestamp_ms,
        "artifact_uri": m.artifact_location, "status": m.status, "tags": _pairs(m.tags)}
    for key in ("model_type", "source_run_id", "status_message"):
        if getattr(m, key):
            info[key] = getattr(m, key)
    return {"info": info, "data": {"params": _pairs(m.params),
                                   "metrics": [metric_json(x) for x in m.metrics]}}


def history_json(key: str, points: Iterable[HistoryPoint], token: str | None) -> bytes:
    """The get-history reply; built in one pass because it can hold 100k points."""
    out: dict[str, Any] = {"metrics": [
        {"key": key, "value": "NaN" if value is None else value, "timestamp": ts, "step": step}
        for step, ts, value in points]}
    if token:
        out["next_page_token"] = token
    return orjson.dumps(out)


def bulk_history_json(key: str, points: Iterable[tuple[str, HistoryPoint]]) -> bytes:
    return orjson.dumps({"metrics": [
        {"key": key, "value": "NaN" if value is None else value, "timestamp": ts, "step": step,
         "run_id": rid} for rid, (step, ts, value) in points]})
