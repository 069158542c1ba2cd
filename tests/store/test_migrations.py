"""The Alembic migrations and ``tables.py`` describe one schema, and an old database upgrades.

Every store contract test runs on a database the migrations built, while the code reads and
writes through ``tables.py``: if the two drift apart (a column added to one only), this is where
it shows, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, select

from ember.entities.jobs import Job
from ember.store.sql import tables as t
from ember.store.sql.engine import make_engine, migrate
from ember.store.sql.store import SqlStore

MIGRATIONS = Path(t.__file__).parent / "migrations"


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "compare_server_default": False})
        diffs = compare_metadata(ctx, t.metadata)
    # alembic's own bookkeeping table is not part of tables.py
    return [d for d in diffs if "alembic_version" not in repr(d)]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


def _upgrade(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_migrations_build_exactly_the_tables_the_code_uses(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_a_database_from_the_first_migration_upgrades_and_keeps_its_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        _upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(insert(t.workspaces).values(name="old", description="",
                                                     display_name="", creation_time=1.0))
            conn.execute(insert(t.jobs).values(
                name="old-job", workspace="old", type="command", status="Completed",
                display_name="old", experiment_name="Default", spec={"command": "true"},
                creation_time=1.0))
        migrate(engine)
        assert _differences(engine) == []
        with engine.connect() as conn:
            assert conn.execute(select(t.jobs.c.name)).scalars().all() == ["old-job"]
    finally:
        engine.dispose()
    store = SqlStore(db_url)
    try:
        job = store.jobs.get("old", "old-job")
        assert isinstance(job, Job) and job.status == "Completed" and job.reuse_key is None
    finally:
        store.close()
