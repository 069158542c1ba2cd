"""Import the optional heavy libraries on demand, with one clear error when one is missing.

The fine-tuning engine's modules may only import the standard library and Ember's lowest layers at
module top, so a server without torch still imports them; this is the one place that turns a
missing library into the error a user can act on.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ember.errors import UnsupportedError

INSTALL_HINT = "pip install 'ember-ml[finetune]'"


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`UnsupportedError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise UnsupportedError(
            f"fine-tuning needs the Python package '{top}', which is not installed here "
            f"({exc}); install it with: {INSTALL_HINT}"
        ) from exc
