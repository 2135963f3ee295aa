"""Database engine and sessions: SQLite (WAL, foreign keys on) or PostgreSQL through psycopg 3.

The schema is created only by Alembic migrations (``recovery migrate``), in tests too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlmodel import Session

SessionFactory = Callable[[], Session]


def normalize_url(url: str) -> str:
    """Send every PostgreSQL URL through psycopg 3 (``postgresql://`` would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    # Recycling stale connections instead of pinging on every checkout saves a round trip per
    # request; the webhook receiver caps its own concurrency below the pool size.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_recycle=1800)


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API connection
        # WAL lets readers run beside the single writer; the busy timeout makes writers queue
        # instead of failing; SQLite leaves foreign keys off unless asked.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


# INSERT .. ON CONFLICT .. RETURNING, in the two dialects that speak it (SQLite since 3.35).
DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def is_database_unavailable(error: BaseException) -> bool:
    """The database, not the work, failed: a dropped or terminated connection, a pool timeout,
    a lock or serialization conflict, SQLite busy. The same work may succeed on a new try.
    Constraint violations, bad SQL or bad data are not this: they would fail again."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, exc.OperationalError | exc.DisconnectionError | exc.TimeoutError)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def session_factory(engine: Engine) -> SessionFactory:
    """Sessions that keep loaded values after commit and flush only when asked (or on commit):
    code that queries after changing rows calls ``session.flush()`` first."""

    def make_session() -> Session:
        return Session(engine, expire_on_commit=False, autoflush=False)

    return make_session


@contextmanager
def transaction(sessions: SessionFactory) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
