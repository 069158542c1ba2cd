"""Workspaces' soft delete: the same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ember.entities.workspaces import Workspace
from ember.errors import ConflictError, NotFoundError
from ember.store.sql.store import SqlStore


def test_a_workspace_is_marked_deleted_once(sql_store: SqlStore) -> None:
    s = sql_store.workspaces
    s.create(Workspace(name="w", creation_time=1.0))
    assert s.get("w").deleted_at is None
    assert s.mark_deleted("w", 5.0).deleted_at == 5.0
    with pytest.raises(ConflictError, match="already deleted"):
        s.mark_deleted("w", 6.0)
    assert s.get("w").deleted_at == 5.0
    assert [w.deleted_at for w in s.list() if w.name == "w"] == [5.0]
    with pytest.raises(NotFoundError):
        s.mark_deleted("nope", 1.0)
