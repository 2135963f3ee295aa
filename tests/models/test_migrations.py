"""Migrations are the only way the schema is made: up, down and up again on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

import models
from recovery.runtime import migrations
from recovery.runtime.db import make_engine
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database


def table_names(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def round_trip(url: str) -> None:
    migrations.upgrade(url)
    assert table_names(url) == set(models.metadata.tables)
    migrations.downgrade(url, "base")
    assert table_names(url) == set()
    migrations.upgrade(url)
    assert table_names(url) == set(models.metadata.tables)


def shared_rate_limits_come_and_go(url: str) -> None:
    """0003 adds only the shared rate-limit table, and reverting it removes only that."""
    migrations.upgrade(url, "0003")
    with_slots = table_names(url)
    migrations.downgrade(url, "0002")
    assert table_names(url) == with_slots - {"rate_limit_slot"}
    migrations.upgrade(url)
    assert table_names(url) == set(models.metadata.tables)


def test_migrations_up_and_down_on_sqlite(tmp_path):
    round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def on_fresh_postgres(name: str, check) -> None:
    """Run ``check`` against a new, empty PostgreSQL database, dropped afterwards."""
    url = create_postgres_database(POSTGRES_URL, name)
    try:
        check(url)
    finally:
        drop_postgres_database(POSTGRES_URL, name)


@pytest.mark.postgres
def test_migrations_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_round_trip", round_trip)


def test_shared_rate_limits_migrate_up_and_down_on_sqlite(tmp_path):
    shared_rate_limits_come_and_go(f"sqlite:///{tmp_path / 'r.db'}")


@pytest.mark.postgres
def test_shared_rate_limits_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_rate_limit", shared_rate_limits_come_and_go)


def test_migrated_schema_matches_the_models(tmp_path):
    """Autogenerate finds nothing to add: the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), models.metadata)
    engine.dispose()
    assert diff == []

