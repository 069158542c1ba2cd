from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.auth import RoleAssignment, Token, User
from ember.errors import NotFoundError
from ember.store.auth import AuthStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, raise_duplicate


def _user(row: Any) -> User:
    return User(name=row.name, is_admin=bool(row.is_admin), disabled=bool(row.disabled),
                creation_time=row.creation_time, password_hash=row.password_hash)


def _token(row: Any) -> Token:
    return Token(id=row.id, user=row.user, token_hash=row.token_hash, name=row.name,
                 kind=row.kind, workspace=row.workspace, subject=row.subject,
                 grants=tuple(row.grants or ()), creation_time=row.creation_time,
                 expires_at=row.expires_at, revoked_at=row.revoked_at)


def _role(row: Any) -> RoleAssignment:
    return RoleAssignment(user=row.user, workspace=row.workspace, role=row.role,
                          creation_time=row.creation_time)


class SqlAuthStore(SqlRepo, AuthStore):
    def create_user(self, user: User) -> User:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.auth_users).values(
                    name=user.name, password_hash=user.password_hash, is_admin=user.is_admin,
                    disabled=user.disabled, creation_time=user.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"user {user.name!r}")
        return user

    def get_user(self, name: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.auth_users).where(t.auth_users.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"user {name!r} does not exist")
        return _user(row)

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.auth_users).order_by(t.auth_users.c.name)).all()
        return [_user(r) for r in rows]

    def update_user(self, user: User) -> User:
        with self.engine.begin() as conn:
            n = conn.execute(update(t.auth_users).where(t.auth_users.c.name == user.name).values(
                is_admin=user.is_admin, disabled=user.disabled,
                password_hash=user.password_hash)).rowcount
        if not n:
            raise NotFoundError(f"user {user.name!r} does not exist")
        return user

    def add_token(self, token: Token) -> Token:
        with self.engine.begin() as conn:
            conn.execute(insert(t.auth_tokens).values(
                id=token.id, token_hash=token.token_hash, user=token.user, name=token.name,
                kind=token.kind, workspace=token.workspace, subject=token.subject,
                grants=list(token.grants), creation_time=token.creation_time,
                expires_at=token.expires_at, revoked_at=token.revoked_at))
        return token

    def token_by_hash(self, token_hash: str) -> Token | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.auth_tokens).where(
                t.auth_tokens.c.token_hash == token_hash)).first()
        return _token(row) if row is not None else None

    def list_tokens(self, user: str | None = None, kind: str | None = None) -> list[Token]:
        q = select(t.auth_tokens).order_by(t.auth_tokens.c.creation_time.desc())
        if user is not None:
            q = q.where(t.auth_tokens.c.user == user)
        if kind is not None:
            q = q.where(t.auth_tokens.c.kind == kind)
        with self.engine.connect() as conn:
            return [_token(r) for r in conn.execute(q).all()]

    def revoke_tokens(self, *, token_id: str | None = None, user: str | None = None,
                      subject: str | None = None, kind: str | None = None,
                      workspace: str | None = None, at: float) -> list[Token]:
        c = t.auth_tokens.c
        conds: list[ColumnElement[bool]] = [c.revoked_at.is_(None)]
        if token_id is not None:
            conds.append(c.id == token_id)
        if user is not None:
            conds.append(c.user == user)
        if subject is not None:
            conds.append(c.subject == subject)
        if kind is not None:
            conds.append(c.kind == kind)
        if workspace is not None:
            conds.append(c.workspace == workspace)
        with self.engine.begin() as conn:
            rows = conn.execute(select(t.auth_tokens).where(and_(*conds))).all()
            if rows:
                conn.execute(update(t.auth_tokens).where(
                    c.id.in_([r.id for r in rows])).values(revoked_at=at))
        revoked = [_token(r) for r in rows]
        for token in revoked:
            token.revoked_at = at
        return revoked

    def assign_role(self, assignment: RoleAssignment) -> RoleAssignment:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.auth_role_assignments).values(
                    user=assignment.user, workspace=assignment.workspace, role=assignment.role,
                    creation_time=assignment.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"role {assignment.role!r} of user {assignment.user!r} in "
                                 f"workspace {assignment.workspace!r}")
        return assignment

    def remove_role(self, user: str, workspace: str, role: str) -> None:
        c = t.auth_role_assignments.c
        with self.engine.begin() as conn:
            n = conn.execute(delete(t.auth_role_assignments).where(
                c.user == user, c.workspace == workspace, c.role == role)).rowcount
        if not n:
            raise NotFoundError(f"user {user!r} has no role {role!r} in workspace "
                                f"{workspace!r}")

    def list_roles(self, *, user: str | None = None,
                   workspace: str | None = None) -> list[RoleAssignment]:
        c = t.auth_role_assignments.c
        q = select(t.auth_role_assignments).order_by(c.workspace, c.user, c.role)
        if user is not None:
            q = q.where(c.user == user)
        if workspace is not None:
            q = q.where(c.workspace == workspace)
        with self.engine.connect() as conn:
            return [_role(r) for r in conn.execute(q).all()]
