"""Searching the MLflow Model Registry: ``filter`` and ``order_by`` as MLflow's client sends them.

    name = 'churn' AND tags.team = 'risk'          (registered models)
    name LIKE 'churn%' AND version_number > 2      (model versions; also run_id IN ('a', 'b'),
    source_path = 'models:/m-...')                  run_id, source_path, tags.<key>)

The grammar is the tracking one (``ember.tracking.search``); which keys and comparisons are
allowed is MLflow's. Matching, ordering and paging run in Python over the store's lists: a
workspace's registry is small next to its runs. ``mlflow.MlflowClient.search_registered_models``
always appends ``tag.`mlflow.prompt.is_prompt` != 'true'``, which a model without that tag
matches (every other comparison on a missing tag fails, as in MLflow).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ember.entities.models import Model, RegisteredModel
from ember.entities.tracking import Clause, Page
from ember.errors import InvalidInputError
from ember.tracking.search import parse_filter, parse_order_by

T = TypeVar("T")

IS_PROMPT_TAG = "mlflow.prompt.is_prompt"
REGISTERED_FILTER = {"name": "string"}
VERSION_FILTER = {"name": "string", "version_number": "number", "run_id": "string",
                  "source_path": "string"}
LIST_KEYS = ("name", "run_id")              # the attributes IN / NOT IN work on
REGISTERED_ORDER = {"name": "string", "creation_timestamp": "number",
                    "last_updated_timestamp": "number"}
REGISTERED_ORDER_ALIASES = {"timestamp": "last_updated_timestamp"}
VERSION_ORDER = {"name": "string", "version_number": "number", "creation_timestamp": "number",
                 "last_updated_timestamp": "number"}
VERSION_DEFAULT_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
_TAG_OPS = ("=", "!=", "LIKE", "ILIKE")

# MLflow's page sizes: (default, largest allowed).
REGISTERED_PAGE = (100, 1000)
VERSION_PAGE = (10_000, 200_000)


@dataclass
class RegisteredResult:
    """A registered model with its versions (for latest_versions)."""

    model: RegisteredModel
    versions: list[Model]


class RegistryReader(Protocol):
    """What searching needs of the registry (the model service provides it)."""

    def list_registered(self, workspace: str) -> list[RegisteredModel]: ...

    def list_versions(self, workspace: str, name: str | None = None, *,
                      include_archived: bool = False) -> list[Model]: ...


def search_registered(store: RegistryReader, workspace: str, filter_string: str | None,
                      order_by: Sequence[str], max_results: int | None,
                      offset: int) -> Page[RegisteredResult]:
    """Registered models matching the filter, ordered (by name by default) and paged.
    Raises InvalidInputError naming a bad filter, order_by term or page size."""
    matches = _matcher(filter_string, REGISTERED_FILTER, "registered models", _registered_value)
    keys = _order_keys(order_by, REGISTERED_ORDER, REGISTERED_ORDER_ALIASES)
    size = _page_size(max_results, REGISTERED_PAGE)
    found = [m for m in store.list_registered(workspace) if matches(m)]
    _sort(found, keys, _registered_value, ("name",))
    page = found[offset:offset + size]
    versions: dict[str, list[Model]] = {}
    if page:
        for v in store.list_versions(workspace):
            versions.setdefault(v.name, []).append(v)
    return Page([RegisteredResult(m, versions.get(m.name, [])) for m in page],
                offset + size if offset + size < len(found) else None)


def search_versions(store: RegistryReader, workspace: str, filter_string: str | None,
                    order_by: Sequence[str], max_results: int | None,
                    offset: int) -> Page[Model]:
    """Model versions (archived ones included: MLflow has no such state) matching the filter,
    newest change first by default, paged. Raises InvalidInputError."""
    matches = _matcher(filter_string, VERSION_FILTER, "model versions", _version_value)
    keys = _order_keys(order_by or VERSION_DEFAULT_ORDER, VERSION_ORDER, {})
    size = _page_size(max_results, VERSION_PAGE)
    found = [m for m in store.list_versions(workspace, include_archived=True) if matches(m)]
    _sort(found, keys, _version_value, ("name", "version_number"))
    return Page(found[offset:offset + size],
                offset + size if offset + size < len(found) else None)


# --- matching ---

def _registered_value(m: RegisteredModel, key: str) -> Any:
    return {"name": m.name, "creation_timestamp": m.creation_time,
            "last_updated_timestamp": m.last_update_time}[key]


def _version_value(m: Model, key: str) -> Any:
    return {"name": m.name, "version_number": m.version, "run_id": m.run_id,
            "source_path": m.source, "creation_timestamp": m.creation_time,
            "last_updated_timestamp": m.last_update_time}[key]


def _matcher(filter_string: str | None, attributes: dict[str, str], what: str,
             value_of: Callable[[Any, str], Any]) -> Callable[[Any], bool]:
    clauses = parse_filter(filter_string, attributes)
    for c in clauses:
        _check_clause(c, what, filter_string or "")

    def matches(item: Any) -> bool:
        for c in clauses:
            if c.entity == "tag":
                if not _tag_matches(item.tags.get(c.key), c):
                    return False
            elif not _compare(value_of(item, c.key), c.op, c.value):
                return False
        return True

    return matches


def _check_clause(c: Clause, what: str, text: str) -> None:
    where = f"invalid filter {text!r}"
    if c.entity not in ("attribute", "tag"):
        raise InvalidInputError(f"{where}: {c.entity}s.{c.key} cannot filter {what}; use "
                                "attributes or tags.<key>")
    if c.entity == "tag" and c.op not in _TAG_OPS:
        raise InvalidInputError(f"{where}: tags.{c.key} compares with {', '.join(_TAG_OPS)}, "
                                f"not {c.op.replace('_', ' ')}")
    if c.op in ("IN", "NOT_IN") and (c.entity != "attribute" or c.key not in LIST_KEYS):
        raise InvalidInputError(f"{where}: {c.op.replace('_', ' ')} works on "
                                f"{' and '.join(k for k in LIST_KEYS)} only, not {c.key}")


def _tag_matches(value: str | None, c: Clause) -> bool:
    if value is None:
        # Models are not prompts: the client's own "is_prompt != 'true'" must let them through.
        return c.key == IS_PROMPT_TAG and (
            (c.op == "=" and c.value == "false") or (c.op == "!=" and c.value == "true"))
    return _compare(value, c.op, c.value)


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "IN":
        return left in right
    if op == "NOT_IN":
        return left not in right
    if op in ("LIKE", "ILIKE"):
        return _like(right, op == "ILIKE").fullmatch(str(left)) is not None
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    return {">": left > right, ">=": left >= right, "<": left < right,
            "<=": left <= right}[op]


def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE: ``%`` any run of characters, ``_`` one character."""
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
                    for ch in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


# --- ordering and paging ---

def _order_keys(terms: Iterable[str], attributes: dict[str, str],
                aliases: dict[str, str]) -> list[tuple[str, bool]]:
    keys = []
    for k in parse_order_by(terms, attributes, aliases):
        if k.entity != "attribute":
            raise InvalidInputError(f"invalid order_by {k.entity}s.{k.key}: order by one of "
                                    f"{', '.join(sorted(attributes))}")
        keys.append((k.key, k.ascending))
    return keys


def _sort(items: list[T], keys: list[tuple[str, bool]], value_of: Callable[[Any, str], Any],
          tie_breakers: tuple[str, ...]) -> None:
    """Sort in place by ``keys``, then MLflow's tie-breakers (name ascending, version
    descending) when the keys do not name them."""
    named = {k for k, _ in keys}
    keys = keys + [(k, k != "version_number") for k in tie_breakers if k not in named]
    for key, ascending in reversed(keys):   # stable sorts, least significant key first
        items.sort(key=lambda item: value_of(item, key), reverse=not ascending)


def _page_size(max_results: int | None, limits: tuple[int, int]) -> int:
    default, largest = limits
    if max_results is None:
        return default
    if max_results < 1 or max_results > largest:
        raise InvalidInputError(f"Invalid value {max_results} for parameter 'max_results': "
                                f"an integer from 1 to {largest}")
    return max_results
