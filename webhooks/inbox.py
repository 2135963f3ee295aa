"""Store verified events in the ``webhook_event`` inbox, once per (account, Stripe event id).

Only inserts: no processing happens here (the ingest job does it later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from models import InboxStatus, WebhookEvent


class NotAnEvent(ValueError):
    """The body is JSON but not a Stripe event."""


@dataclass(frozen=True)
class InboxEntry:
    stripe_event_id: str
    type: str
    api_version: str | None
    livemode: bool
    created_at: datetime
    thin: bool
    related_object_id: str | None
    related_object_type: str | None
    payload: dict


def entry_from_payload(payload: object) -> InboxEntry:
    """Validate the event envelope (snapshot ``event`` or thin ``v2.core.event``)."""
    if not isinstance(payload, dict):
        raise NotAnEvent("body is not a JSON object")
    kind = payload.get("object")
    if kind not in ("event", "v2.core.event"):
        raise NotAnEvent(f"object is {kind!r}, not an event")
    event_id, event_type, created = payload.get("id"), payload.get("type"), payload.get("created")
    if not isinstance(event_id, str) or not event_id:
        raise NotAnEvent("event has no id")
    if not isinstance(event_type, str) or not event_type:
        raise NotAnEvent("event has no type")
    if len(event_id) > 255 or len(event_type) > 255:
        raise NotAnEvent("event id or type is too long")
    thin = kind == "v2.core.event"
    related = payload.get("related_object") if thin else None
    related = related if isinstance(related, dict) else {}
    data = payload.get("data")
    if not thin and not (isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise NotAnEvent("event has no data.object")
    return InboxEntry(
        stripe_event_id=event_id,
        type=event_type,
        api_version=_short_str(payload.get("api_version") or payload.get("snapshot_event")),
        livemode=bool(payload.get("livemode", False)),
        created_at=_created_at(created),
        thin=thin,
        related_object_id=_short_str(related.get("id")),
        related_object_type=_short_str(related.get("type")),
        payload=payload,
    )


def _created_at(created: object) -> datetime:
    if isinstance(created, bool) or not isinstance(created, int | float | str):
        raise NotAnEvent("event has no created time")
    try:
        if isinstance(created, str):
            # Thin events carry an ISO-8601 time, snapshot events a Unix timestamp.
            return datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC)
        return datetime.fromtimestamp(created, UTC)
    except (ValueError, OverflowError, OSError):
        raise NotAnEvent("event has an invalid created time") from None


def _short_str(value: object) -> str | None:
    return value[:64] if isinstance(value, str) else None


def store_event(
    session: Session, account_id: str, entry: InboxEntry, received_at: datetime
) -> bool:
    """Insert the event unless it is already there; True when this call stored it."""
    values = {
        "account_id": account_id,
        "stripe_event_id": entry.stripe_event_id,
        "type": entry.type,
        "api_version": entry.api_version,
        "livemode": entry.livemode,
        "thin": entry.thin,
        "related_object_id": entry.related_object_id,
        "related_object_type": entry.related_object_type,
        "payload": entry.payload,
        "created_at": entry.created_at,
        "received_at": received_at,
        "status": (InboxStatus.needs_fetch if entry.thin else InboxStatus.pending).value,
        "tries": 0,
    }
    statement = _INSERT_IGNORING_DUPLICATES[session.get_bind().dialect.name]
    # A conflict returns no row; rowcount is not reliable across drivers for ON CONFLICT. The
    # Core connection skips the ORM's per-statement machinery, which a plain insert never needs.
    return session.connection().execute(statement, values).first() is not None


def _insert_ignoring_duplicates(dialect_insert):
    # Built once per dialect: building and caching a 13-column statement per request was a
    # measurable share of the receiver's CPU.
    return (dialect_insert(WebhookEvent)
            .on_conflict_do_nothing(index_elements=["account_id", "stripe_event_id"])
            .returning(WebhookEvent.id))


_INSERT_IGNORING_DUPLICATES = {
    "postgresql": _insert_ignoring_duplicates(pg_insert),
    "sqlite": _insert_ignoring_duplicates(sqlite_insert),
}
