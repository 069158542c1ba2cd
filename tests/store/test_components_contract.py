"""Component versions: the same contract on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ember.entities.components import Component, ComponentInput, ComponentOutput
from ember.entities.environments import Environment
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


def _component(name: str = "train", version: str = "") -> Component:
    return Component(
        name=name, version=version, command="python t.py --n ${{inputs.n}}",
        code="codes/abc", environment=Environment(image="python:3.11", conda_file={"a": 1}),
        inputs={"n": ComponentInput(type="integer", default=3, min=1, max=9),
                "mode": ComponentInput(type="string", enum=["a", "b"], optional=True)},
        outputs={"model": ComponentOutput(type="mlflow_model", description="m")},
        additional_includes=["/x/shared"], tags={"k": "v"}, creation_time=time.time())


class TestComponentStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        store.workspaces.create(Workspace(name="w1", creation_time=time.time()))
        return "w1"

    def test_round_trip(self, store: SqlStore, ws: str) -> None:
        made = store.components.create(ws, _component())
        assert made.version == "1"
        got = store.components.get(ws, "train", "1")
        assert got == made
        assert isinstance(got.environment, Environment) and got.environment.image == "python:3.11"
        assert got.inputs["n"] == ComponentInput(type="integer", default=3, min=1, max=9)
        assert got.outputs["model"].type == "mlflow_model"
        assert got.additional_includes == ["/x/shared"] and not got.archived

    def test_versions_latest_and_duplicates(self, store: SqlStore, ws: str) -> None:
        for _ in range(2):
            store.components.create(ws, _component())
        store.components.create(ws, _component("other", "beta"))
        assert store.components.get(ws, "train").version == "2"
        assert [c.version for c in store.components.list(ws, "train")] == ["2", "1"]
        assert [(c.name, c.version) for c in store.components.list(ws)] == [
            ("other", "beta"), ("train", "2")]
        with pytest.raises(AlreadyExistsError):
            store.components.create(ws, _component(version="1"))
        with pytest.raises(NotFoundError, match="train:9"):
            store.components.get(ws, "train", "9")

    def test_archive_hides_from_list_and_latest(self, store: SqlStore, ws: str) -> None:
        for _ in range(2):
            store.components.create(ws, _component())
        assert store.components.set_archived(ws, "train", "2", True).archived
        assert store.components.get(ws, "train").version == "1"
        assert store.components.get(ws, "train", "2").archived
        assert [c.version for c in store.components.list(ws, "train")] == ["1"]
        assert [c.version for c in store.components.list(ws)] == ["1"]
        assert [c.version for c in store.components.list(ws, "train", include_archived=True)] \
            == ["2", "1"]
        store.components.set_archived(ws, "train", "1", True)
        assert store.components.list(ws) == []
        with pytest.raises(NotFoundError):
            store.components.get(ws, "train")
        store.components.set_archived(ws, "train", "2", False)
        assert store.components.get(ws, "train").version == "2"
        with pytest.raises(NotFoundError):
            store.components.set_archived(ws, "train", "7", True)
