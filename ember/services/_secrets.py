"""Sealing connection secrets at rest: one Fernet key per server home.

The key is ``Settings.secrets_key`` (``EMBER_SECRETS_KEY``) when given, else the file
``<home>/secrets.key``, created once with mode 0600. Losing the key loses the secrets (the rest
of each connection stays readable); moving a database to another home needs the key with it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ember.errors import EmberError, InvalidInputError

KEY_FILE = "secrets.key"


def load_or_create_key(home: Path, given: str = "") -> bytes:
    """The Fernet key: ``given`` when set, else the one in ``<home>/secrets.key`` (made now if
    there is none). Raises InvalidInputError when a key is not a Fernet key, without showing
    it."""
    if given:
        return _checked(given.strip().encode(), "EMBER_SECRETS_KEY")
    path = Path(home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a unique name with 0600 from the start, then linked into place: two
        # servers starting on one home agree on one key, and no reader sees half a key.
        tmp = path.with_name(f".{KEY_FILE}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass   # another process made the key first: read that one below
        finally:
            tmp.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)   # a key copied in or made by hand: owner-only, as one made here
    return _checked(path.read_bytes().strip(), str(path))


def _checked(key: bytes, source: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{source} is not a Fernet key (32 url-safe base64-encoded "
                                "bytes; make one with cryptography.fernet.Fernet.generate_key())"
                                ) from None
    return key


class SecretBox:
    """Seals a connection's secrets (a name → value mapping) into one token, and opens it."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secrets: Mapping[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(dict(secrets), sort_keys=True).encode()).decode()

    def open(self, sealed: str, what: str) -> dict[str, str]:
        """The secrets of ``sealed``; ``what`` names their owner in the error raised when this
        server's key did not seal them."""
        try:
            return dict(json.loads(self._fernet.decrypt(sealed.encode())))
        except InvalidToken:
            raise EmberError(f"the secrets of {what} cannot be read with this server's key "
                             "(EMBER_SECRETS_KEY or <home>/secrets.key changed since they were "
                             "written); create the connection again") from None
