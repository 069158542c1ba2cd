from __future__ import annotations

import abc

from ember.entities.auth import RoleAssignment, Token, User


class AuthStore(abc.ABC):
    """Users, their tokens (as hashes) and their role assignments."""

    @abc.abstractmethod
    def create_user(self, user: User) -> User:
        """Insert; raises AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def list_users(self) -> list[User]:
        """All users, by name."""

    @abc.abstractmethod
    def update_user(self, user: User) -> User:
        """Store ``is_admin``, ``disabled`` and ``password_hash``; raises NotFoundError."""

    @abc.abstractmethod
    def add_token(self, token: Token) -> Token:
        """Insert a token record."""

    @abc.abstractmethod
    def token_by_hash(self, token_hash: str) -> Token | None:
        """The token whose SHA-256 is ``token_hash`` (revoked and expired ones too), or None."""

    @abc.abstractmethod
    def list_tokens(self, user: str | None = None, kind: str | None = None) -> list[Token]:
        """Tokens, newest first; of ``user`` and of ``kind`` when given."""

    @abc.abstractmethod
    def revoke_tokens(self, *, token_id: str | None = None, user: str | None = None,
                      subject: str | None = None, kind: str | None = None,
                      workspace: str | None = None, at: float) -> list[Token]:
        """Mark the matching live tokens revoked at ``at``; returns them, revoked."""

    @abc.abstractmethod
    def assign_role(self, assignment: RoleAssignment) -> RoleAssignment:
        """Insert; raises AlreadyExistsError for the same (user, workspace, role)."""

    @abc.abstractmethod
    def remove_role(self, user: str, workspace: str, role: str) -> None:
        """Delete; raises NotFoundError when there is no such assignment."""

    @abc.abstractmethod
    def list_roles(self, *, user: str | None = None,
                   workspace: str | None = None) -> list[RoleAssignment]:
        """Assignments, by workspace then user then role."""
