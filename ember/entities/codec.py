"""Entity ⇄ plain data (JSON-able dicts), written once for every entity dataclass.

``to_plain`` is ``dataclasses.asdict``. ``from_plain`` reads the dataclass's own type hints, so
a field, its type and its default are declared in one place, the entity: keys the entity does
not have are ignored (newer servers, older clients), missing keys take the entity's default,
and nested entities are rebuilt wherever the hints say so (``Job.inputs: dict[str, JobInput]``,
``Job.environment: str | Environment | None``, ``list[StatusChange]``). Values that already are
entities pass through unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(entity: Any) -> dict[str, Any]:
    """The entity as plain data (nested entities as dicts)."""
    return dataclasses.asdict(entity)


def from_plain(cls: type[T], data: Mapping[str, Any]) -> T:
    """An instance of the dataclass ``cls`` from plain data (see the module docstring)."""
    if isinstance(data, cls):
        return data
    klass: Any = cls   # a dataclass type; hashable, which the caches need
    hints = _hints(klass)
    kwargs = {name: _value(hints[name], data[name]) for name in _init_fields(klass)
              if name in data and (data[name] is not None or _allows_none(hints[name]))}
    return cls(**kwargs)


@functools.cache
def _allows_none(hint: Any) -> bool:
    """Whether ``None`` is a value of the field (else a null means: the entity's default)."""
    if hint is Any or hint is type(None):
        return True
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and \
        type(None) in typing.get_args(hint)


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _init_fields(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        # A dict becomes the one entity the union names (str | Environment | None); a union
        # of several entities needs its own decoder (sweeps' search spaces have one).
        if isinstance(value, Mapping):
            arms = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
            if len(arms) > 1:
                raise TypeError(f"cannot tell which of {arms} a mapping is")
            if arms:
                return from_plain(arms[0], value)  # type: ignore[arg-type]
        return value
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_plain(hint, value)  # type: ignore[arg-type]
    if origin is dict and isinstance(value, Mapping):
        _key, item = typing.get_args(hint) or (Any, Any)
        return {k: _value(item, v) for k, v in value.items()}
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(hint) or (Any,)
        return [_value(item, v) for v in value]
    return value
