"""The optional libraries of the Responsible AI components, imported on demand with one clear
error naming the extra when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from ember.errors import UnsupportedError

INSTALL_HINT = "pip install 'ember-ml[rai]'"


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`UnsupportedError` naming the ``rai`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise UnsupportedError(
            f"the Responsible AI components need the Python package '{top}', which is not "
            f"installed here ({exc}); install it with: {INSTALL_HINT}") from exc
