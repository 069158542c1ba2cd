"""Name rules for user-named resources (job names also become folder names)."""

from __future__ import annotations

import re

from ember.errors import InvalidInputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def check_name(kind: str, name: str) -> None:
    """Refuse names that are empty, too long, or could act as paths (``/``, ``..``)."""
    if not _NAME.match(name) or ".." in name:
        raise InvalidInputError(
            f"{kind} name {name!r} is invalid: start with a letter or digit and use only "
            "letters, digits, '_', '-' and '.' (at most 255 characters)")
