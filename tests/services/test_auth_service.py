"""AuthService: tokens at rest as hashes only, revocation and expiry at once, passwords,
the cache that keeps the hot path off the database, and the owner token file."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest

from ember.entities.auth import canonical_role
from ember.errors import InvalidInputError, PermissionDeniedError, UnauthenticatedError
from ember.services.auth import OWNER_USER, AuthService
from ember.store.sql.store import SqlStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingStore:
    """The real store, counting token lookups."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lookups = 0

    def token_by_hash(self, h: str) -> Any:
        self.lookups += 1
        return self.inner.token_by_hash(h)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def db(tmp_path: Path) -> Any:
    store = SqlStore(f"sqlite:///{tmp_path / 'auth.db'}")
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(db: SqlStore, clock: Clock) -> AuthService:
    return AuthService(CountingStore(db.auth), clock=clock)  # type: ignore[arg-type]


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_token_is_stored_as_its_hash_only(auth: AuthService, db: SqlStore,
                                            tmp_path: Path) -> None:
    auth.create_user("ada")
    record, plain = auth.create_token("ada", name="laptop")
    assert plain.startswith("ember_") and len(plain) > 40
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("auth.db*"))
    assert plain.encode() not in raw and record.token_hash.encode() in raw


def test_revoked_token_fails_at_once_though_cached(auth: AuthService, clock: Clock) -> None:
    auth.create_user("ada")
    record, plain = auth.create_token("ada")
    p = auth.authenticate(bearer(plain))
    assert p.user == "ada" and not p.is_admin
    auth.revoke_token(record.id, p)
    with pytest.raises(UnauthenticatedError, match="revoked"):
        auth.authenticate(bearer(plain))


def test_expired_token_fails_at_once_though_cached(auth: AuthService, clock: Clock) -> None:
    auth.create_user("ada")
    _, plain = auth.create_token("ada", expires_in_days=1)
    auth.authenticate(bearer(plain))
    clock.now += 86400
    with pytest.raises(UnauthenticatedError, match="expired"):
        auth.authenticate(bearer(plain))


def test_the_hot_path_reads_no_database_until_the_cache_ages(auth: AuthService,
                                                             clock: Clock) -> None:
    auth.create_user("ada")
    _, plain = auth.create_token("ada")
    store: Any = auth.store
    for _ in range(100):
        auth.authenticate(bearer(plain))
    assert store.lookups == 1
    clock.now += auth.cache_seconds + 1
    auth.authenticate(bearer(plain))
    assert store.lookups == 2


def test_unknown_malformed_and_missing_credentials(auth: AuthService) -> None:
    with pytest.raises(UnauthenticatedError, match="needs a token"):
        auth.authenticate(None)
    with pytest.raises(UnauthenticatedError, match="not known"):
        auth.authenticate(bearer("ember_" + "x" * 43))
    with pytest.raises(UnauthenticatedError, match="neither"):
        auth.authenticate("Digest abc")
    with pytest.raises(UnauthenticatedError, match="base64"):
        auth.authenticate("Basic ***")


def test_password_login_and_disabled_users(auth: AuthService, db: SqlStore) -> None:
    auth.create_user("bob", password="correct horse")
    assert db.auth.get_user("bob").password_hash.startswith("scrypt$")  # type: ignore[union-attr]
    good = "Basic " + base64.b64encode(b"bob:correct horse").decode()
    bad = "Basic " + base64.b64encode(b"bob:wrong horse!").decode()
    assert auth.authenticate(good).user == "bob"
    with pytest.raises(UnauthenticatedError, match="wrong user name or password"):
        auth.authenticate(bad)
    _, plain = auth.create_token("bob")
    auth.disable_user("bob")
    for header in (good, bearer(plain)):
        with pytest.raises(UnauthenticatedError):
            auth.authenticate(header)
    with pytest.raises(InvalidInputError, match="at least 8"):
        auth.create_user("carl", password="short")


def test_lifetimes_names_and_roles_are_checked(auth: AuthService) -> None:
    auth.create_user("ada")
    with pytest.raises(InvalidInputError, match="lifetime"):
        auth.create_token("ada", expires_in_days=400)
    with pytest.raises(InvalidInputError, match="not a valid name"):
        auth.create_user("../etc")
    with pytest.raises(InvalidInputError, match="unknown role 'Boss'"):
        auth.assign_role("ada", "w", "Boss")
    assert canonical_role("data scientist") == "AzureML Data Scientist"
    assert canonical_role("  reader ") == "Reader"


def test_role_changes_apply_at_once(auth: AuthService) -> None:
    auth.create_user("ada")
    _, plain = auth.create_token("ada")
    p = auth.authenticate(bearer(plain))
    with pytest.raises(PermissionDeniedError, match="no role in workspace 'w'"):
        auth.authorize(p, "w", "assets", "read")
    auth.assign_role("ada", "w", "Reader")
    auth.authorize(p, "w", "assets", "read")
    with pytest.raises(PermissionDeniedError, match=r"\(Reader\) may not write"):
        auth.authorize(p, "w", "assets", "write")
    auth.remove_role("ada", "w", "reader")
    with pytest.raises(PermissionDeniedError):
        auth.authorize(p, "w", "assets", "read")


def test_the_owner_token_file_is_private_kept_and_replaced_when_revoked(
        auth: AuthService, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = auth.ensure_owner_token(home)
    path = home / "owner.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.ensure_owner_token(home) == first          # a restart keeps it
    p = auth.authenticate(bearer(first))
    assert p.user == OWNER_USER and p.is_admin
    auth.revoke_token(p.token_id or "", p)
    second = auth.ensure_owner_token(home)
    assert second != first and path.read_text() == second
