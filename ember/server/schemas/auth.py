from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ember.entities.auth import RoleAssignment, Token, User
from ember.server.schemas.base import Body

_Name = Annotated[str, Field(min_length=1, max_length=255)]
_Password = Annotated[str, Field(min_length=8, max_length=1024)]


class UserIn(Body):
    name: _Name
    password: _Password | None = None
    is_admin: bool = False


class PasswordIn(Body):
    password: _Password


class UserOut(BaseModel):
    name: str
    is_admin: bool
    disabled: bool
    creation_time: float
    has_password: bool

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(name=u.name, is_admin=u.is_admin, disabled=u.disabled,
                   creation_time=u.creation_time, has_password=bool(u.password_hash))


class TokenIn(Body):
    name: Annotated[str, Field(max_length=255)] = ""
    # None: the default lifetime (30 days); at most a year
    expires_in_days: Annotated[float, Field(gt=0, le=366)] | None = None
    # admins only: a token of another user
    user: _Name | None = None


class TokenOut(BaseModel):
    """A token's record; ``token`` (the secret) only in the answer that made it."""

    id: str
    user: str
    name: str
    kind: str
    creation_time: float
    expires_at: float | None
    revoked_at: float | None
    token: str | None = None

    @classmethod
    def of(cls, t: Token, plain: str | None = None) -> TokenOut:
        return cls(id=t.id, user=t.user, name=t.name, kind=t.kind,
                   creation_time=t.creation_time, expires_at=t.expires_at,
                   revoked_at=t.revoked_at, token=plain)


class RoleIn(Body):
    user: _Name
    role: _Name


class RoleOut(BaseModel):
    user: str
    workspace: str
    role: str
    creation_time: float

    @classmethod
    def of(cls, a: RoleAssignment) -> RoleOut:
        return cls(user=a.user, workspace=a.workspace, role=a.role,
                   creation_time=a.creation_time)


class WhoAmIOut(BaseModel):
    user: str
    is_admin: bool
    kind: str
    subject: str | None = None
    roles: list[RoleOut] = Field(default_factory=list)
