from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from ember.errors import AlreadyExistsError


class SqlRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def is_duplicate(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate" in text or "primary key" in text


def raise_duplicate(exc: IntegrityError, what: str) -> None:
    if is_duplicate(exc):
        raise AlreadyExistsError(f"{what} already exists") from exc
    raise exc
