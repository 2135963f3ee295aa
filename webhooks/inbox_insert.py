"""The inbox's batch insert: many rows in one statement whose text the driver has seen before.

``INSERT .. ON CONFLICT DO NOTHING RETURNING`` as SQLAlchemy builds it for many rows is compiled
per call, and psycopg parses a statement of more than 50 parameters for its ``%s`` placeholders
on every call (it caches only small ones): together most of the receiver's database CPU. Here the
text is a ``VALUES`` list, one text per batch size and kept; on PostgreSQL it is sent through
psycopg's raw cursor with the server's own ``$n`` placeholders, which need no parsing (and,
used often, is prepared); on SQLite it stays in sqlite3's statement cache. (An ``unnest`` of
arrays keeps one text for every size, but psycopg escapes each JSON body into the array text in
Python, which cost more again.)

Values pass through the columns' own bind processors (the UTC datetimes as the ORM stores them),
so rows written here read back exactly as rows written by the ORM.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from psycopg import RawCursor
from sqlalchemy import Connection, Dialect, exc

from models import WebhookEvent

COLUMNS = ("account_id", "stripe_event_id", "type", "api_version", "livemode", "thin",
           "related_object_id", "related_object_type", "payload", "created_at", "received_at",
           "status", "tries", "deferrals")
_CONFLICT_RETURNING = ("ON CONFLICT (account_id, stripe_event_id) DO NOTHING "
                       "RETURNING account_id, stripe_event_id")
_COLUMN_LIST = ", ".join(COLUMNS)


def insert_rows(connection: Connection, rows: list[dict]) -> set[tuple[str, str]]:
    """Insert ``rows`` (dicts of ``COLUMNS``, one per event, ``payload`` as JSON text) unless
    their event is stored already; the ``(account_id, stripe_event_id)`` of those inserted.
    The caller owns the transaction."""
    dialect = connection.dialect
    if not connection.in_transaction():
        # As a statement through SQLAlchemy would: the caller's commit then ends it (the raw
        # cursor's statement alone would leave SQLAlchemy unaware of the open transaction).
        connection.begin()
    flat = tuple(value for row in _bound_values(dialect, rows) for value in row)
    if dialect.name == "postgresql":
        return _insert_postgres(connection, _values_insert("$", len(rows)), flat)
    result = connection.exec_driver_sql(_values_insert("?", len(rows)), flat)
    return {tuple(row) for row in result}


def _insert_postgres(connection: Connection, statement: str,
                     values: tuple) -> set[tuple[str, str]]:
    driver = connection.connection.driver_connection
    try:
        with RawCursor(driver) as cursor:
            cursor.execute(statement, values)
            return {tuple(row) for row in cursor.fetchall()}
    except connection.dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would have raised it, a lost connection marked so (and dropped).
        disconnect = connection.dialect.is_disconnect(error, driver, None)
        if disconnect:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(statement, None, error,
                                      connection.dialect.loaded_dbapi.Error,
                                      connection_invalidated=disconnect,
                                      dialect=connection.dialect) from error


def _bound_values(dialect: Dialect, rows: list[dict]) -> list[tuple]:
    processors = _processors(dialect)
    return [tuple(value if process is None or value is None else process(value)
                  for value, process in zip((row[name] for name in COLUMNS), processors,
                                            strict=True))
            for row in rows]


@lru_cache(maxsize=4)
def _processors(dialect: Dialect) -> tuple[Callable | None, ...]:
    """Each column's bind processor in ``dialect`` (None where the value goes as it is); the
    payload is text already and skips the JSON type's."""
    table = WebhookEvent.__table__
    return tuple(None if name == "payload"
                 else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                 for name in COLUMNS)


@lru_cache(maxsize=128)
def _values_insert(placeholder: str, count: int) -> str:
    """``placeholder`` "?" (sqlite3) or "$" (PostgreSQL's numbered ``$1``, ``$2``...)."""
    width = len(COLUMNS)
    if placeholder == "$":
        rows = (", ".join(f"${row * width + column + 1}" for column in range(width))
                for row in range(count))
    else:
        rows = (", ".join(["?"] * width) for _ in range(count))
    return (f"INSERT INTO {WebhookEvent.__tablename__} ({_COLUMN_LIST}) "
            f"VALUES {', '.join(f'({row})' for row in rows)} {_CONFLICT_RETURNING}")
