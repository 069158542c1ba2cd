"""promptflow's import surface for flow code, served when the real promptflow is not installed.

A flow's tool files say ``from promptflow.core import tool, log_metric`` (or the older
``from promptflow import tool``), ``from promptflow.connections import OpenAIConnection``,
``from promptflow.tracing import trace``. Installing promptflow for that alone would pull ~100
packages and a 2 s import; :func:`install` instead adds an import finder that answers those
module names with the small modules of this package. When the real promptflow is importable it
is left alone: tools then import it, and Ember matches its classes by name (``tools.py``).

Served names: ``promptflow`` (``tool``, ``log_metric``, ``ToolProvider`` with promptflow's
deprecation line), ``promptflow.core``, ``promptflow.connections``, ``promptflow.entities``,
``promptflow.tracing``, ``promptflow.contracts.types``, ``promptflow.exceptions``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType

_HERE = __name__
MODULES = {
    "promptflow": f"{_HERE}.root",
    "promptflow.core": f"{_HERE}.core",
    "promptflow.connections": f"{_HERE}.connections",
    "promptflow.entities": f"{_HERE}.entities",
    "promptflow.tracing": f"{_HERE}.tracing",
    "promptflow.contracts": f"{_HERE}.contracts",
    "promptflow.contracts.types": f"{_HERE}.contracts.types",
    "promptflow.exceptions": f"{_HERE}.exceptions",
}
PACKAGES = {"promptflow", "promptflow.contracts"}


class _Alias(importlib.abc.Loader):
    """Loads a promptflow name as the already-written Ember module (one object, two names)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        alias = MODULES.get(fullname)
        if alias is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(alias),
                                               is_package=fullname in PACKAGES)


_FINDER = _Finder()
_lock = threading.Lock()


def installed() -> bool:
    return _FINDER in sys.meta_path


def install() -> bool:
    """Serve the promptflow names unless the real promptflow is importable. Returns True when
    Ember's modules answer them (now or already)."""
    with _lock:
        if installed():
            return True
        if importlib.util.find_spec("promptflow") is not None:
            return False
        sys.meta_path.append(_FINDER)
        return True
