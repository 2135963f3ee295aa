"""Typed reads of a decoded Stripe payload: every read checks the type it returns and names the
path of what is wrong in a ``ParseError``. It knows JSON shapes, not Stripe's meanings.

Reads are also bounded, so that a value the engine's tables cannot hold (an amount of 10^30, an
id of 300 characters, a NUL that PostgreSQL text refuses) fails here, at parse time, as bad data
of one event: never later, as a database error that sinks the transaction of a whole batch.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# Stripe ids and idempotency keys are at most 255 characters; so are the engine's stripe_* columns.
MAX_ID_LENGTH = 255
# Amounts and counts are 32-bit integer columns on PostgreSQL.
MAX_STORED_INT = 2**31 - 1
# 9999-12-31T23:59:59Z: the last second a Python datetime holds.
MAX_UNIX_TIME = 253_402_300_799
_CURRENCY = re.compile(r"[A-Za-z]{3}")


class ParseError(ValueError):
    """The payload is not a well-formed Stripe event; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayloadReader:
    """One JSON object and its path in the payload; every read checks the type it returns.

    A missing or null child reads as an empty reader, so optional nesting needs no None checks;
    ``present`` tells the two apart where that matters.
    """

    def __init__(self, obj: dict[str, Any] | None, path: str) -> None:
        self.obj = obj if obj is not None else {}
        self.present = obj is not None
        self.path = path

    def _fail(self, key: str, problem: str) -> ParseError:
        return ParseError(f"{self.path}.{key} {problem}")

    def _value(self, key: str, kind: type | tuple[type, ...], label: str, required: bool) -> Any:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise self._fail(key, "is missing")
            return None
        # bool is an int subclass; a JSON true is never an amount or a timestamp.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self._fail(key, f"must be {label}, got {type(value).__name__}")
        return value

    def text(self, key: str, *, required: bool = False,
             max_length: int | None = None) -> str | None:
        value = self._value(key, str, "a string", required)
        if value is None:
            return None
        if required and not value:
            raise self._fail(key, "is empty")
        if "\x00" in value:
            raise self._fail(key, "contains a NUL character")
        if max_length is not None and len(value) > max_length:
            raise self._fail(key, f"is longer than {max_length} characters ({len(value)})")
        return value

    def identifier(self, key: str, *, required: bool = False) -> str | None:
        """A Stripe id (or any other value Stripe bounds at 255 characters)."""
        return self.text(key, required=required, max_length=MAX_ID_LENGTH)

    def currency(self, key: str, *, required: bool = False) -> str | None:
        """A three-letter ISO currency code, in Stripe's lower case."""
        value = self.text(key, required=required)
        if value is not None and not _CURRENCY.fullmatch(value):
            raise self._fail(key, f"is not a three-letter currency code ({_describe(value)})")
        return value.lower() if value is not None else None

    def integer(self, key: str, *, required: bool = False, minimum: int = 0,
                maximum: int = MAX_STORED_INT) -> int | None:
        """An integer within ``minimum..maximum`` (by default what an integer column holds)."""
        value = self._value(key, int, "an integer", required)
        if value is not None and not minimum <= value <= maximum:
            raise self._fail(key, f"must be between {minimum} and {maximum}, got "
                                  f"{_describe(value)}")
        return value

    def flag(self, key: str) -> bool | None:
        return self._value(key, bool, "a boolean", False)

    def child(self, key: str) -> PayloadReader:
        return PayloadReader(self._value(key, dict, "an object", False), f"{self.path}.{key}")

    def expanded(self, key: str) -> PayloadReader:
        """The object of an expandable field; an empty reader when it holds only an id."""
        value = self.obj.get(key)
        return PayloadReader(value if isinstance(value, dict) else None, f"{self.path}.{key}")

    def items(self, key: str) -> list[PayloadReader]:
        """The object entries of a list field (Stripe lists keep them under ``data``)."""
        entries = self._value(key, list, "a list", False) or []
        return [PayloadReader(e, f"{self.path}.{key}[]") for e in entries if isinstance(e, dict)]

    def timestamp(self, key: str, *, required: bool = False) -> datetime | None:
        seconds = self._value(key, int, "an integer", required)
        if seconds is None:
            return None
        if not 0 <= seconds <= MAX_UNIX_TIME:
            raise self._fail(key, f"is not a valid Unix time: {_describe(seconds)}")
        return datetime.fromtimestamp(seconds, tz=UTC)

    def ref(self, key: str) -> str | None:
        """A field Stripe sends as an id or, when expanded, as an object carrying the id."""
        value = self._value(key, (str, dict), "an id or an object", False)
        if isinstance(value, dict):
            return self.child(key).identifier("id", required=True)
        return self.identifier(key) or None


def _describe(value: int | str) -> str:
    """A value as a reason may quote it: short ones whole, long ones by their size."""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**20 else "a number of more than 20 digits"
    return repr(value) if len(value) <= 40 else f"{len(value)} characters"
