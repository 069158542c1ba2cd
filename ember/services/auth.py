"""Users, tokens and roles, and the two questions every request asks: who is calling
(:meth:`AuthService.authenticate`) and may they do this (:meth:`AuthService.authorize`).

Tokens are ``ember_`` + 32 random bytes (url-safe base64), shown once and stored as their
SHA-256; a lookup is by hash and the hashes are compared with ``hmac.compare_digest``.
Passwords (MLflow's basic auth) are stored as scrypt hashes. Both answers are cached in memory
for ``cache_seconds``, so the hot path (metric logging) reads no database per request; a token
revoked or a role changed through this process takes effect at once, through another process
sharing the database within ``cache_seconds``. Expiry is checked on every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from ember.entities.auth import (
    ADMIN,
    READ,
    SECRETS,
    SELF,
    Principal,
    RoleAssignment,
    Token,
    User,
    canonical_role,
    role_allows,
    ROLES,
)
from ember.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from ember.private_files import write_private
from ember.store.auth import AuthStore

OWNER_USER = "owner"
OWNER_TOKEN_FILE = "owner.token"
TOKEN_PREFIX = "ember_"
DEFAULT_TOKEN_DAYS = 30.0
MAX_TOKEN_DAYS = 366.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,254}$")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${}${}${}${}${}".format(_SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"],
                                          salt.hex(), digest.hex())


def check_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32,
                             n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name or ""):
        raise InvalidInputError(f"{what} {name!r} is not a valid name: letters, digits and "
                                "'_.@-', starting with a letter or digit, at most 255")


class AuthService:
    def __init__(self, store: AuthStore, *, enabled: bool = True,
                 cache_seconds: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.enabled = enabled
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._lock = threading.Lock()
        # credential key (a token's hash, or the hash of a basic-auth header) -> (principal,
        # when cached); user -> ({workspace: roles}, when cached)
        self._principals: dict[str, tuple[Principal, float]] = {}
        self._roles: dict[str, tuple[dict[str, frozenset[str]], float]] = {}

    # --- users ---

    def create_user(self, name: str, *, password: str | None = None,
                    is_admin: bool = False) -> User:
        _check_name(name, "user")
        if password is not None and len(password) < 8:
            raise InvalidInputError("a password needs at least 8 characters")
        user = User(name=name, is_admin=is_admin, creation_time=self.clock(),
                    password_hash=hash_password(password) if password else None)
        return self.store.create_user(user)

    def get_user(self, name: str) -> User:
        return self.store.get_user(name)

    def list_users(self) -> list[User]:
        return self.store.list_users()

    def disable_user(self, name: str, disabled: bool = True) -> User:
        user = self.store.get_user(name)
        if name == OWNER_USER and disabled:
            raise InvalidInputError("the server's owner cannot be disabled")
        user.disabled = disabled
        self.store.update_user(user)
        if disabled:
            self.store.revoke_tokens(user=name, at=self.clock())
        self._forget(user=name)
        return user

    def set_password(self, name: str, password: str) -> User:
        if len(password) < 8:
            raise InvalidInputError("a password needs at least 8 characters")
        user = self.store.get_user(name)
        user.password_hash = hash_password(password)
        self.store.update_user(user)
        self._forget(user=name)
        return user

    def has_admin(self, *, besides_owner: bool = False) -> bool:
        return any(u.is_admin and not u.disabled and
                   (not besides_owner or u.name != OWNER_USER) for u in self.store.list_users())

    def ensure_admin(self, name: str, password: str) -> User:
        """The admin ``name`` with ``password``: made now, or made admin and given the password
        when the user exists (``ember server start --admin-user``)."""
        try:
            user = self.store.get_user(name)
        except NotFoundError:
            return self.create_user(name, password=password, is_admin=True)
        user.is_admin = True
        user.disabled = False
        self.store.update_user(user)
        return self.set_password(name, password)

    # --- tokens ---

    def create_token(self, user: str, *, name: str = "", expires_in_days: float | None =
                     DEFAULT_TOKEN_DAYS, kind: str = "user", workspace: str | None = None,
                     subject: str | None = None, grants: Iterable[str] = ()
                     ) -> tuple[Token, str]:
        """A new token of ``user``: the record and the token itself (shown only now)."""
        owner = self.store.get_user(user)
        if owner.disabled:
            raise InvalidInputError(f"user {user!r} is disabled")
        if expires_in_days is not None and not 0 < expires_in_days <= MAX_TOKEN_DAYS:
            raise InvalidInputError(f"a token's lifetime is between 0 and {MAX_TOKEN_DAYS:g} "
                                    f"days; got {expires_in_days:g}")
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        record = Token(id=uuid.uuid4().hex[:16], user=user, token_hash=token_hash(plain),
                       name=name[:255], kind=kind, workspace=workspace, subject=subject,
                       grants=tuple(grants), creation_time=now,
                       expires_at=None if expires_in_days is None
                       else now + expires_in_days * 86400)
        self.store.add_token(record)
        return record, plain

    def list_tokens(self, user: str | None = None) -> list[Token]:
        return [t for t in self.store.list_tokens(user) if t.kind in ("user", "owner")]

    def revoke_token(self, token_id: str, caller: Principal) -> Token:
        mine = None if caller.is_admin else caller.user
        revoked = self.store.revoke_tokens(token_id=token_id, user=mine, at=self.clock())
        if not revoked:
            raise NotFoundError(f"no live token {token_id!r}"
                                + ("" if caller.is_admin else f" of user {caller.user!r}"))
        self._forget(hashes=[t.token_hash for t in revoked])
        return revoked[0]

    def create_workload_token(self, *, kind: str, user: str, workspace: str, subject: str,
                              grants: Iterable[str] = ()) -> str:
        """A job's or a deployment's token; it lives until :meth:`revoke_workload`."""
        _, plain = self.create_token(user, name=f"{kind} {subject}", expires_in_days=None,
                                     kind=kind, workspace=workspace, subject=subject,
                                     grants=grants)
        return plain

    def revoke_workload(self, kind: str, workspace: str, subject: str) -> None:
        revoked = self.store.revoke_tokens(subject=subject, kind=kind, workspace=workspace,
                                           at=self.clock())
        self._forget(hashes=[t.token_hash for t in revoked])

    def ensure_owner_token(self, home: Path) -> str:
        """The server's owner token, in ``<home>/owner.token`` (mode 0600): the one there if
        it is still live, else a new one. The owner is the admin ``owner``, made on first
        start."""
        path = Path(home) / OWNER_TOKEN_FILE
        try:
            plain = path.read_text().strip()
        except OSError:
            plain = ""
        if plain:
            found = self.store.token_by_hash(token_hash(plain))
            if found is not None and found.revoked_at is None and found.kind == "owner":
                if path.stat().st_mode & 0o077:
                    path.chmod(0o600)
                return plain
        try:
            self.store.create_user(User(name=OWNER_USER, is_admin=True,
                                        creation_time=self.clock()))
        except AlreadyExistsError:
            pass   # made at an earlier start; its token in the file was lost or revoked
        _, plain = self.create_token(OWNER_USER, name="owner token (EMBER_HOME)",
                                     expires_in_days=None, kind="owner")
        write_private(path, plain.encode())
        return plain

    # --- roles ---

    def assign_role(self, user: str, workspace: str, role: str) -> RoleAssignment:
        canonical = canonical_role(role)
        if canonical is None:
            raise InvalidInputError(f"unknown role {role!r}; the roles are: "
                                    + ", ".join(ROLES))
        self.store.get_user(user)   # NotFoundError for an unknown user
        made = self.store.assign_role(RoleAssignment(user=user, workspace=workspace,
                                                     role=canonical,
                                                     creation_time=self.clock()))
        self._forget(user=user)
        return made

    def remove_role(self, user: str, workspace: str, role: str) -> None:
        self.store.remove_role(user, workspace, canonical_role(role) or role)
        self._forget(user=user)

    def list_roles(self, *, user: str | None = None,
                   workspace: str | None = None) -> list[RoleAssignment]:
        return self.store.list_roles(user=user, workspace=workspace)

    def roles_of(self, user: str, workspace: str) -> frozenset[str]:
        now = self.clock()
        hit = self._roles.get(user)
        if hit is None or now - hit[1] > self.cache_seconds:
            by_ws: dict[str, set[str]] = {}
            for a in self.store.list_roles(user=user):
                by_ws.setdefault(a.workspace, set()).add(a.role)
            hit = ({ws: frozenset(r) for ws, r in by_ws.items()}, now)
            with self._lock:
                self._roles[user] = hit
        return hit[0].get(workspace, frozenset())

    def workspaces_of(self, principal: Principal) -> set[str] | None:
        """The workspaces ``principal`` may see; None: every one (admins)."""
        if principal.is_admin:
            return None
        if principal.is_workload:
            return {principal.workspace or ""}
        self.roles_of(principal.user, "")
        return set(self._roles[principal.user][0])

    # --- the two questions ---

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller an ``Authorization`` header names (``Bearer <token>`` or ``Basic``);
        raises UnauthenticatedError, saying why, for none or a bad one."""
        if not authorization:
            raise UnauthenticatedError("this server needs a token: send 'Authorization: Bearer "
                                       "<token>' (ember login, EMBER_TOKEN, "
                                       "MLFLOW_TRACKING_TOKEN)")
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer" and value:
            key = token_hash(value)
        elif scheme == "basic" and value:
            key = "basic:" + token_hash(value)
        else:
            raise UnauthenticatedError("the Authorization header is neither 'Bearer <token>' "
                                       "nor 'Basic <user:password>'")
        now = self.clock()
        hit = self._principals.get(key)
        if hit is not None and now - hit[1] <= self.cache_seconds:
            principal = hit[0]
        else:
            principal = (self._from_token(key) if scheme == "bearer"
                         else self._from_password(value))
            with self._lock:
                self._principals[key] = (principal, now)
        if principal.expires_at is not None and now >= principal.expires_at:
            raise UnauthenticatedError("the token has expired: make a new one with "
                                       "'ember token create'")
        return principal

    def _from_token(self, key: str) -> Principal:
        record = self.store.token_by_hash(key)
        if record is None or not hmac.compare_digest(record.token_hash, key):
            raise UnauthenticatedError("the token is not known to this server")
        if record.revoked_at is not None:
            raise UnauthenticatedError("the token has been revoked")
        user = self.store.get_user(record.user)
        if user.disabled:
            raise UnauthenticatedError(f"user {user.name!r} is disabled")
        workload = record.kind in ("job", "deployment")
        return Principal(user=user.name, is_admin=user.is_admin and not workload,
                         kind=record.kind, token_id=record.id,
                         workspace=record.workspace if workload else None,
                         subject=record.subject, grants=record.grants,
                         expires_at=record.expires_at)

    def _from_password(self, value: str) -> Principal:
        try:
            name, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise UnauthenticatedError("the Basic credentials are not base64 of "
                                       "'user:password'") from None
        try:
            user = self.store.get_user(name)
        except NotFoundError:
            user = None
        if user is None or not check_password(password, user.password_hash):
            raise UnauthenticatedError("wrong user name or password")
        if user.disabled:
            raise UnauthenticatedError(f"user {user.name!r} is disabled")
        return Principal(user=user.name, is_admin=user.is_admin, kind="password")

    def authorize(self, principal: Principal, workspace: str | None, kind: str, action: str,
                  *, workload_may_write: bool = False) -> None:
        """Raise PermissionDeniedError unless ``principal`` may do ``action`` on a resource of
        ``kind`` in ``workspace`` (None: a server-level route). ``workload_may_write``: the
        route lets a job or deployment token write (its own job's reports, its run)."""
        if principal.is_admin:
            return
        if action == ADMIN:
            raise PermissionDeniedError(f"{principal.describe()} is not a server admin")
        if action == SELF:
            if principal.is_workload:
                raise PermissionDeniedError(f"{principal.describe()} has no account to manage")
            return
        if workspace is None:
            if action == READ:
                return
            raise PermissionDeniedError(f"{principal.describe()} may not {action} here")
        if principal.is_workload:
            if workspace != principal.workspace:
                raise PermissionDeniedError(
                    f"{principal.describe()} may not reach workspace {workspace!r}")
            if action == READ or (action == SECRETS and SECRETS in principal.grants) \
                    or workload_may_write:
                return
            raise PermissionDeniedError(f"{principal.describe()} may not {action} this")
        roles = self.roles_of(principal.user, workspace)
        if role_allows(roles, kind, action):
            return
        if not roles:
            raise PermissionDeniedError(
                f"{principal.describe()} has no role in workspace {workspace!r}")
        raise PermissionDeniedError(
            f"{principal.describe()} ({', '.join(sorted(roles))}) may not {action} "
            f"{kind if kind != 'assets' else 'this'} in workspace {workspace!r}")

    def _forget(self, *, user: str | None = None, hashes: Iterable[str] = ()) -> None:
        with self._lock:
            if user is not None:
                self._roles.pop(user, None)
                for key, (p, _) in list(self._principals.items()):
                    if p.user == user:
                        del self._principals[key]
            for h in hashes:
                self._principals.pop(h, None)
