"""A tool function's parameters as promptflow reads them: the value type from each annotation
(``str`` string, ``int``, ``float`` double, ``bool``, ``list``, ``dict`` object), connection
parameters by class name (so the real promptflow's classes match as Ember's do; a ``Union`` of
connection classes is allowed), and ``**kwargs``."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ember.flows.dag import MISSING

_SIMPLE = {str: "string", int: "int", float: "double", bool: "bool", list: "list",
           dict: "object"}
_NAMES = {"str": "string", "int": "int", "float": "double", "bool": "bool", "list": "list",
          "dict": "object"}


@dataclass
class Param:
    name: str
    kind: str | None = None                      # promptflow value type; None: untyped
    connections: tuple[str, ...] = ()            # accepted connection class names
    connection_classes: tuple[type, ...] = ()    # the classes themselves, when resolved
    default: Any = MISSING


def _is_connection(annotation: Any) -> bool:
    return isinstance(annotation, type) and any(
        c.__name__.endswith("Connection") and c.__name__ != "ConnectionProvider"
        for c in annotation.__mro__)


def param_of(name: str, annotation: Any, default: Any) -> Param:
    """What an annotation says about a parameter (see the module docstring)."""
    param = Param(name=name, default=default)
    if annotation is inspect.Parameter.empty:
        return param
    if isinstance(annotation, str):   # unresolvable forward reference: go by its name
        base = annotation.split("[")[0].strip().rsplit(".", 1)[-1]
        if base.endswith("Connection"):
            param.connections = (base,)
        param.kind = _NAMES.get(base.lower() if base in ("List", "Dict") else base)
        return param
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if args and all(_is_connection(a) for a in args):
            param.connections = tuple(a.__name__ for a in args)
            param.connection_classes = tuple(args)
        elif len(args) == 1:
            inner = param_of(name, args[0], default)
            param.kind, param.connections = inner.kind, inner.connections
            param.connection_classes = inner.connection_classes
        return param
    if origin is not None:
        param.kind = _SIMPLE.get(origin) if origin in (list, dict) else None
        return param
    if _is_connection(annotation):
        param.connections = (annotation.__name__,)
        param.connection_classes = (annotation,)
    elif isinstance(annotation, type):
        for simple, kind in _SIMPLE.items():
            if issubclass(annotation, bool) and simple is not bool:
                continue   # bool is an int subclass; it is "bool", not "int"
            if issubclass(annotation, simple):
                param.kind = kind
                break
    return param


def params_of(func: Callable[..., Any], skip_self: bool) -> tuple[dict[str, Param], bool]:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - a forward reference that does not resolve
        hints = {}
    params: dict[str, Param] = {}
    var_kwargs = False
    for index, (name, p) in enumerate(inspect.signature(func).parameters.items()):
        if skip_self and index == 0:
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            var_kwargs = True
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        params[name] = param_of(name, hints.get(name, p.annotation), default)
    return params, var_kwargs
