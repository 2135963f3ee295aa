"""Shared fixtures: a migrated database per test (SQLite always; PostgreSQL when
``RECOVERY_TEST_POSTGRES_URL`` is set), a virtual clock, and the engine's services.

Tests never write into the working copy: messages go to each test's own folder, and
Hypothesis keeps its files in a temporary folder of the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime

import hypothesis.configuration
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import models
from recovery.runtime import migrations
from recovery.runtime.clock import VirtualClock
from recovery.runtime.db import make_engine, normalize_url
from recovery.runtime.settings import Settings
from recovery.wiring import build_services

POSTGRES_URL = os.environ.get("RECOVERY_TEST_POSTGRES_URL")
WEBHOOK_SECRET = "whsec_test_primary_secret_0123456789"
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
# Hypothesis would otherwise keep its example database and caches in ./.hypothesis.
HYPOTHESIS_HOME = tempfile.TemporaryDirectory(prefix="recovery-tests-hypothesis-")
hypothesis.configuration.set_hypothesis_home_dir(HYPOTHESIS_HOME.name)


def pytest_collection_modifyitems(config, items):
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="RECOVERY_TEST_POSTGRES_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return str(path)


def create_postgres_database(base_url: str, name: str) -> str:
    """Create an empty database next to ``base_url``'s and return its URL."""
    url = make_url(normalize_url(base_url))
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(base_url: str, name: str) -> None:
    url = make_url(normalize_url(base_url)).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database():
    name = f"recovery_test_{uuid.uuid4().hex[:10]}"
    url = create_postgres_database(POSTGRES_URL, name)
    migrations.upgrade(url)
    yield url
    drop_postgres_database(POSTGRES_URL, name)


def _truncate_all(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    tables = ", ".join(f'"{t.name}"' for t in models.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path, sqlite_template) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "recovery.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    _truncate_all(url)
    return url


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url,
        stripe_webhook_secrets=WEBHOOK_SECRET,
        stripe_api_key="sk_test_engine_tests",
        run_worker=False,
        outbox_dir=tmp_path / "outbox",
        # Stripe trouble reaches the action at once: these tests are about what the runner and
        # the steps make of it (the gateway's own repeats are tested in test_gateway).
        stripe_transient_retries=0,
    )


@pytest.fixture
def services(settings, clock):
    from recovery.accounts.directory import ensure_default_account

    built = build_services(settings, clock)
    ensure_default_account(built.sessions, settings, clock)
    yield built
    built.close()
