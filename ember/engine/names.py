"""Azure-ML-style generated names: ``<adjective>_<noun>_<10 base36 chars>``."""

from __future__ import annotations

import re
import secrets

_ADJECTIVES = ("amber", "brave", "calm", "clever", "eager", "gentle", "happy", "jolly", "keen",
               "lively", "lucid", "mellow", "nimble", "quiet", "quick", "sharp", "shiny", "stoic",
               "sunny", "tender", "tidy", "vivid", "witty", "zesty")
_NOUNS = ("apple", "badger", "bean", "cactus", "comet", "ember", "falcon", "fig", "garden",
          "harbor", "island", "kettle", "lemon", "maple", "meadow", "otter", "pepper", "pine",
          "quill", "river", "spoon", "tiger", "tulip", "walnut")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def display_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"


def job_name(display: str | None = None) -> str:
    """A job's name from its display name, which may hold any character (``"my run #2"``):
    only letters, digits and ``_`` are kept, as a name must start with a letter or digit."""
    base = re.sub(r"[^A-Za-z0-9_]+", "_", display or "").strip("_")[:200] \
        or display_name().replace("-", "_")
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{base}_{suffix}"
