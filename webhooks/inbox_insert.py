"""The inbox's batch insert: many rows in one statement whose text the driver has seen before.

``INSERT .. ON CONFLICT DO NOTHING RETURNING`` as SQLAlchemy builds it for many rows names every
parameter (``%(account_id__12)s``): a statement text longer than psycopg caches, so the driver
parsed it again on every call, and that was most of the receiver's database CPU. Here the text
is a ``VALUES`` list of anonymous placeholders, one text per batch size and kept: short enough
for psycopg to cache (and, used often, prepare) for the batches concurrent deliveries make, and
in sqlite3's statement cache. (An ``unnest`` of arrays keeps one text for every size, but
psycopg escapes each JSON body into the array text in Python, which cost more again.)

Values pass through the columns' own bind processors (the UTC datetimes as the ORM stores them),
so rows written here read back exactly as rows written by the ORM.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import Connection, Dialect

from models import WebhookEvent

COLUMNS = ("account_id", "stripe_event_id", "type", "api_version", "livemode", "thin",
           "related_object_id", "related_object_type", "payload", "created_at", "received_at",
           "status", "tries", "deferrals")
_CONFLICT_RETURNING = ("ON CONFLICT (account_id, stripe_event_id) DO NOTHING "
                       "RETURNING account_id, stripe_event_id")
_COLUMN_LIST = ", ".join(COLUMNS)
# The driver's placeholder (its DB-API paramstyle: psycopg's "format", sqlite3's "qmark").
_PLACEHOLDERS = {"format": "%s", "pyformat": "%s", "qmark": "?"}


def insert_rows(connection: Connection, rows: list[dict]) -> set[tuple[str, str]]:
    """Insert ``rows`` (dicts of ``COLUMNS``, one per event, ``payload`` as JSON text) unless
    their event is stored already; the ``(account_id, stripe_event_id)`` of those inserted.
    The caller owns the transaction."""
    dialect = connection.dialect
    flat = tuple(value for row in _bound_values(dialect, rows) for value in row)
    statement = _values_insert(_PLACEHOLDERS[dialect.paramstyle], len(rows))
    result = connection.exec_driver_sql(statement, flat)
    return {tuple(row) for row in result}


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
    row = f"({', '.join([placeholder] * len(COLUMNS))})"
    return (f"INSERT INTO {WebhookEvent.__tablename__} ({_COLUMN_LIST}) "
            f"VALUES {', '.join([row] * count)} {_CONFLICT_RETURNING}")
