"""MLflow's input rules: key syntax, length limits (values cut, keys refused), batch sizes.

The numbers are MLflow's, kept with every other limit in :mod:`ember.entities.limits`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from ember.entities.limits import (
    MAX_BATCH_LOG_REQUEST_BYTES,
    MAX_BULK_INTERVAL_RESULTS,
    MAX_BULK_INTERVAL_RUNS,
    MAX_ENTITIES_PER_BATCH,
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_EXPERIMENT_TAG_VALUE_LENGTH,
    MAX_KEY_LENGTH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_RUNS_PER_SEARCH,
    MAX_TAG_VALUE_LENGTH,
)
from ember.entities.tracking import Metric
from ember.errors import InvalidInputError

__all__ = ["MAX_BATCH_LOG_REQUEST_BYTES", "MAX_BULK_INTERVAL_RESULTS", "MAX_BULK_INTERVAL_RUNS",
           "MAX_ENTITIES_PER_BATCH", "MAX_EXPERIMENT_NAME_LENGTH",
           "MAX_EXPERIMENT_TAG_VALUE_LENGTH", "MAX_KEY_LENGTH", "MAX_METRICS_PER_BATCH",
           "MAX_PARAM_VALUE_LENGTH", "MAX_PARAMS_TAGS_PER_BATCH", "MAX_RUNS_PER_SEARCH",
           "MAX_TAG_VALUE_LENGTH", "check_batch_request_size", "check_batch_sizes",
           "check_experiment_name", "check_key", "check_metrics", "check_params",
           "check_run_id", "check_tags", "page_size", "truncated"]

_KEY = re.compile(r"^[/\w.\- :]*$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")


def check_key(key: object, what: str = "key") -> str:
    """A metric, param or tag key: MLflow's characters, not path-like, at most 250 chars."""
    if not isinstance(key, str):
        raise InvalidInputError(f"Missing value for required parameter '{what}'. "
                                "A key name must be provided.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"'{what}' exceeds the maximum length of {MAX_KEY_LENGTH} characters")
    if not _KEY.match(key):
        raise InvalidInputError(
            f"Invalid value {key!r} for parameter '{what}' supplied. Names may only contain "
            "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) "
            "and slashes (/).")
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidInputError(
            f"Invalid value {key!r} for parameter '{what}' supplied. Names may be treated as "
            "files in certain cases, and must not resolve to other names when treated as such. "
            f"This name would resolve to {norm!r}")
    return key


def truncated(value: object, limit: int, what: str) -> str:
    """Over-long values are cut to the limit, as MLflow does (MLFLOW_TRUNCATE_LONG_VALUES)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(f"'{what}' must be a string")
    return value if len(value) <= limit else value[:limit]


def check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidInputError(f"Invalid value {run_id!r} for parameter 'run_id' supplied.")
    return run_id


def check_batch_request_size(size: int) -> None:
    """A ``runs/log-batch`` body of at most 1 MB, as MLflow's server requires."""
    if size > MAX_BATCH_LOG_REQUEST_BYTES:
        raise InvalidInputError(
            f"Batched logging API requests must be at most {MAX_BATCH_LOG_REQUEST_BYTES} bytes, "
            f"got payload of length {size}.")


def check_batch_sizes(metrics: int, params: int, tags: int) -> None:
    for what, count, limit in (("metrics", metrics, MAX_METRICS_PER_BATCH),
                               ("params", params, MAX_PARAMS_TAGS_PER_BATCH),
                               ("tags", tags, MAX_PARAMS_TAGS_PER_BATCH),
                               ("metrics, params, and tags", metrics + params + tags,
                                MAX_ENTITIES_PER_BATCH)):
        if count > limit:
            raise InvalidInputError(
                f"A batch logging request can contain at most {limit} {what}. Got {count} "
                f"{what}. Please split up {what} across multiple requests and try again.")


def check_metrics(metrics: Sequence[Metric]) -> None:
    seen: set[str] = set()
    for i, m in enumerate(metrics):
        if m.key not in seen:
            check_key(m.key, f"metrics[{i}].key")
            seen.add(m.key)
        if m.timestamp < 0:
            raise InvalidInputError(
                f"Invalid value {m.timestamp} for parameter 'metrics[{i}].timestamp' supplied: "
                "timestamp must be a nonnegative long (64-bit integer)")


def check_params(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Validated params as a dict; a key given twice in one batch is refused, as in MLflow."""
    out: dict[str, str] = {}
    for i, (key, value) in enumerate(params):
        check_key(key, f"params[{i}].key")
        if key in out:
            raise InvalidInputError(
                f"Duplicate parameter keys have been submitted: ['{key}']. Please ensure the "
                "request contains only one param value per param key.")
        out[key] = truncated(value, MAX_PARAM_VALUE_LENGTH, f"params[{i}].value")
    return out


def check_tags(tags: Sequence[tuple[str, str]], limit: int = MAX_TAG_VALUE_LENGTH
               ) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, (key, value) in enumerate(tags):
        check_key(key, f"tags[{i}].key")
        out[key] = truncated(value, limit, f"tags[{i}].value")
    return out


def check_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"Invalid experiment name: '{name}'")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidInputError(
            f"'name' exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters")
    return name


def page_size(value: int | None, default: int, maximum: int, what: str = "max_results") -> int:
    if value is None:
        return default
    if value < 1 or value > maximum:
        raise InvalidInputError(
            f"Invalid value {value} for parameter '{what}' supplied. It must be between 1 and "
            f"{maximum}.")
    return value
