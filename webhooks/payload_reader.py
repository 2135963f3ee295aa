"""Typed reads of a decoded Stripe payload: every read checks the type it returns and names the
path of what is wrong in a ``ParseError``. It knows JSON shapes, not Stripe's meanings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


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

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._value(key, str, "a string", required)
        if required and not value:
            raise self._fail(key, "is empty")
        return value

    def integer(self, key: str, *, required: bool = False) -> int | None:
        return self._value(key, int, "an integer", required)

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
        seconds = self.integer(key, required=required)
        if seconds is None:
            return None
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise self._fail(key, f"is not a valid Unix time: {seconds}") from exc

    def ref(self, key: str) -> str | None:
        """A field Stripe sends as an id or, when expanded, as an object carrying the id."""
        value = self._value(key, (str, dict), "an id or an object", False)
        if isinstance(value, dict):
            return self.child(key).text("id", required=True)
        return value or None
