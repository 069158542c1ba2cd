"""The auth and audit stores' contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from ember.entities.audit import AuditEntry
from ember.entities.auth import RoleAssignment, Token, User
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


def test_users_are_unique_and_updated(sql_store: SqlStore) -> None:
    s = sql_store.auth
    s.create_user(User(name="ada", creation_time=1.0))
    with pytest.raises(AlreadyExistsError, match="user 'ada'"):
        s.create_user(User(name="ada", creation_time=2.0))
    ada = s.get_user("ada")
    ada.is_admin, ada.password_hash = True, "scrypt$x"
    s.update_user(ada)
    assert s.get_user("ada").is_admin and s.get_user("ada").password_hash == "scrypt$x"
    with pytest.raises(NotFoundError):
        s.get_user("bob")
    with pytest.raises(NotFoundError):
        s.update_user(User(name="bob"))


def test_tokens_are_found_by_hash_and_revoked_once(sql_store: SqlStore) -> None:
    s = sql_store.auth
    s.create_user(User(name="ada", creation_time=1.0))
    for i, kind in enumerate(("user", "user", "job")):
        s.add_token(Token(id=f"t{i}", user="ada", token_hash=f"{i:064d}", kind=kind,
                          workspace="w" if kind == "job" else None,
                          subject="j1" if kind == "job" else None, grants=("secrets",),
                          creation_time=float(i), expires_at=100.0))
    got = s.token_by_hash(f"{1:064d}")
    assert got is not None and got.id == "t1" and got.grants == ("secrets",)
    assert s.token_by_hash("f" * 64) is None
    assert [t.id for t in s.list_tokens("ada", kind="user")] == ["t1", "t0"]
    assert [t.id for t in s.revoke_tokens(subject="j1", kind="job", workspace="w", at=5.0)] \
        == ["t2"]
    assert s.revoke_tokens(subject="j1", kind="job", at=6.0) == []   # already revoked
    assert s.token_by_hash(f"{2:064d}").revoked_at == 5.0  # type: ignore[union-attr]
    assert sorted(t.id for t in s.revoke_tokens(user="ada", at=7.0)) == ["t0", "t1"]


def test_role_assignments(sql_store: SqlStore) -> None:
    s = sql_store.auth
    s.assign_role(RoleAssignment(user="ada", workspace="w1", role="Reader"))
    s.assign_role(RoleAssignment(user="ada", workspace="w2", role="Owner"))
    s.assign_role(RoleAssignment(user="bob", workspace="w1", role="Owner"))
    with pytest.raises(AlreadyExistsError):
        s.assign_role(RoleAssignment(user="ada", workspace="w1", role="Reader"))
    assert [(a.workspace, a.role) for a in s.list_roles(user="ada")] == [
        ("w1", "Reader"), ("w2", "Owner")]
    assert [a.user for a in s.list_roles(workspace="w1")] == ["ada", "bob"]
    s.remove_role("ada", "w1", "Reader")
    with pytest.raises(NotFoundError, match="no role 'Reader'"):
        s.remove_role("ada", "w1", "Reader")


def test_audit_appends_in_order_from_concurrent_writers(sql_store: SqlStore) -> None:
    s = sql_store.audit
    barrier = threading.Barrier(4)

    def write(n: int) -> None:
        barrier.wait()
        for i in range(25):
            s.append([AuditEntry(time=float(i), user=f"u{n}", action="POST /jobs",
                                 resource="/x", outcome=201, workspace="w")])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = s.list(limit=1000)
    assert len(everything) == 100
    assert [e.id for e in everything] == sorted(e.id for e in everything)  # type: ignore[type-var]
    mine = s.list(user="u2", since=20.0)
    assert [e.time for e in mine] == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert len(s.list(limit=10)) == 10 and s.list(limit=10)[-1].id == everything[-1].id
    assert s.list(workspace="elsewhere") == []
