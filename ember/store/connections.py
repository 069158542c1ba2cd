"""Connections, with their secrets sealed: the store keeps the sealed text it is given and
never sees a secret in clear (``services/connections.py`` seals and opens it)."""

from __future__ import annotations

import abc

from ember.entities.connections import Connection


class ConnectionStore(abc.ABC):
    """Every read returns the connection with its secrets masked (``******``, one per secret
    name); :meth:`get_sealed` returns the sealed secrets."""

    @abc.abstractmethod
    def create_connection(self, workspace: str, conn: Connection, sealed: str) -> None:
        """Insert ``conn`` (its secret names, not values) with ``sealed``, its secrets as the
        service sealed them. Raises AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def update_connection(self, workspace: str, conn: Connection, sealed: str) -> None:
        """Replace the stored connection, sealed secrets included (not its creation time).
        Raises NotFoundError."""

    @abc.abstractmethod
    def get_connection(self, workspace: str, name: str) -> Connection:
        """Raises NotFoundError naming the connection."""

    @abc.abstractmethod
    def get_sealed(self, workspace: str, name: str) -> tuple[Connection, str]:
        """The connection and its sealed secrets. Raises NotFoundError."""

    @abc.abstractmethod
    def list_connections(self, workspace: str) -> list[Connection]:
        """The workspace's connections, by name."""

    @abc.abstractmethod
    def delete_connection(self, workspace: str, name: str) -> None:
        """Raises NotFoundError."""
