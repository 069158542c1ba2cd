"""The model registry store: the same contract on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from ember.entities.models import Model, RegisteredModel
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


def _version(name: str = "clf", version: int = 0, **kw: object) -> Model:
    return Model(name=name, version=version, path=f"mlflow-artifacts:/registry/{name}/x",
                 type="mlflow_model", source="./model", run_id="job-1",
                 flavors={"python_function": {"loader_module": "mlflow.sklearn"}},
                 tags={"k": "v"}, properties={"p": "1"}, **kw)  # type: ignore[arg-type]


class ModelStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        store.workspaces.create(Workspace(name="w1", creation_time=time.time()))
        store.models.create_registered("w1", RegisteredModel(name="clf", description="d"))
        return "w1"

    def test_versions_count_up_and_round_trip(self, store: SqlStore, ws: str) -> None:
        first = store.models.create_version(ws, _version())
        second = store.models.create_version(ws, _version(description="two"))
        assert (first.version, second.version) == (1, 2)
        got = store.models.get_version(ws, "clf", 1)
        assert got == first
        assert got.flavors["python_function"]["loader_module"] == "mlflow.sklearn"
        assert got.run_id == "job-1" and got.type == "mlflow_model" and got.creation_time > 0
        assert [m.version for m in store.models.list_versions(ws, "clf")] == [2, 1]

    def test_missing_and_duplicates(self, store: SqlStore, ws: str) -> None:
        with pytest.raises(AlreadyExistsError, match="clf"):
            store.models.create_registered(ws, RegisteredModel(name="clf"))
        with pytest.raises(NotFoundError, match="nope"):
            store.models.create_version(ws, _version("nope"))
        with pytest.raises(NotFoundError, match="clf:9"):
            store.models.get_version(ws, "clf", 9)
        store.models.create_version(ws, _version(version=5))
        with pytest.raises(AlreadyExistsError, match="clf:5"):
            store.models.create_version(ws, _version(version=5))
        assert store.models.create_version(ws, _version()).version == 6

    def test_deleted_versions_are_not_reused(self, store: SqlStore, ws: str) -> None:
        store.models.create_version(ws, _version())
        store.models.create_version(ws, _version())
        store.models.delete_version(ws, "clf", 2)
        assert store.models.create_version(ws, _version()).version == 3
        with pytest.raises(NotFoundError):
            store.models.delete_version(ws, "clf", 2)

    def test_update_archive_and_list(self, store: SqlStore, ws: str) -> None:
        store.models.create_version(ws, _version())
        store.models.create_version(ws, _version())
        changed = store.models.update_version(ws, "clf", 1, description="new", tags={"a": "b"},
                                              stage="Staging", archived=True)
        assert (changed.description, changed.tags, changed.stage, changed.archived) == \
            ("new", {"a": "b"}, "Staging", True)
        assert changed.properties == {"p": "1"}
        assert [m.version for m in store.models.list_versions(ws, "clf")] == [2]
        assert [m.version for m in store.models.list_versions(
            ws, "clf", include_archived=True)] == [2, 1]
        with pytest.raises(NotFoundError):
            store.models.update_version(ws, "clf", 7, description="x")

    def test_aliases_move_and_vanish_with_their_version(self, store: SqlStore, ws: str) -> None:
        store.models.create_version(ws, _version())
        store.models.create_version(ws, _version())
        store.models.set_alias(ws, "clf", "champion", 1)
        store.models.set_alias(ws, "clf", "champion", 2)
        store.models.set_alias(ws, "clf", "old", 1)
        assert store.models.get_registered(ws, "clf").aliases == {"champion": 2, "old": 1}
        assert store.models.get_version(ws, "clf", 2).aliases == ["champion"]
        with pytest.raises(NotFoundError):
            store.models.set_alias(ws, "clf", "x", 9)
        store.models.delete_version(ws, "clf", 1)
        assert store.models.get_registered(ws, "clf").aliases == {"champion": 2}
        store.models.delete_alias(ws, "clf", "champion")
        with pytest.raises(NotFoundError, match="champion"):
            store.models.delete_alias(ws, "clf", "champion")

    def test_rename_and_delete_carry_versions(self, store: SqlStore, ws: str) -> None:
        store.models.create_version(ws, _version())
        store.models.set_alias(ws, "clf", "prod", 1)
        store.models.create_registered(ws, RegisteredModel(name="taken"))
        with pytest.raises(AlreadyExistsError):
            store.models.update_registered(ws, "clf", new_name="taken")
        renamed = store.models.update_registered(ws, "clf", new_name="clf2", tags={"t": "1"})
        assert renamed.name == "clf2" and renamed.aliases == {"prod": 1}
        assert store.models.get_version(ws, "clf2", 1).aliases == ["prod"]
        assert [r.name for r in store.models.list_registered(ws)] == ["clf2", "taken"]
        store.models.delete_registered(ws, "clf2")
        assert store.models.list_versions(ws, "clf2", include_archived=True) == []
        with pytest.raises(NotFoundError):
            store.models.get_registered(ws, "clf2")

    def test_concurrent_creators_get_distinct_versions(self, store: SqlStore, ws: str) -> None:
        made: list[int] = []
        errors: list[BaseException] = []

        def create() -> None:
            try:
                for _ in range(5):
                    made.append(store.models.create_version(ws, _version()).version)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert sorted(made) == list(range(1, 21))


def _tag_writers(store: SqlStore, ws: str, version: int | None) -> None:
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(5):
                store.models.set_tag(ws, "clf", version, f"k{i}-{j}", str(j))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


class TestModelStoreContract(ModelStoreContract):
    def test_concurrent_tag_writers_lose_nothing(self, store: SqlStore, ws: str) -> None:
        store.models.create_version(ws, _version())
        _tag_writers(store, ws, None)
        _tag_writers(store, ws, 1)
        expected = {f"k{i}-{j}": str(j) for i in range(4) for j in range(5)}
        assert store.models.get_registered(ws, "clf").tags == expected
        assert store.models.get_version(ws, "clf", 1).tags == {"k": "v", **expected}
        store.models.set_tag(ws, "clf", 1, "k", None)
        store.models.set_tag(ws, "clf", 1, "absent", None)
        assert "k" not in store.models.get_version(ws, "clf", 1).tags
        with pytest.raises(NotFoundError):
            store.models.set_tag(ws, "clf", 9, "a", "b")
