"""Store verified events in the ``webhook_event`` inbox, once per (account, Stripe event id).

Only inserts: no processing happens here (the ingest job does it later).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlmodel import Session

from models import InboxStatus
from webhooks.inbox_insert import insert_rows


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
    # The payload exactly as JSON text when the body can be stored as it came (nothing in it
    # needed replacing): stored as is, saving a second serialisation of the document.
    payload_json: str | None = None


def entry_from_payload(payload: object, payload_json: str | None = None) -> InboxEntry:
    """Validate the event envelope (snapshot ``event`` or thin ``v2.core.event``);
    ``payload_json``, when given, is ``payload`` as the JSON text it was decoded from."""
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
        payload_json=payload_json,
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
    return bool(store_rows(session, [inbox_row(account_id, entry, received_at)]))


def inbox_row(account_id: str, entry: InboxEntry, received_at: datetime) -> dict:
    """The inbox row of a verified event, its payload as JSON text."""
    payload = entry.payload_json if entry.payload_json is not None else json.dumps(entry.payload)
    return {
        "account_id": account_id, "stripe_event_id": entry.stripe_event_id,
        "type": entry.type, "api_version": entry.api_version, "livemode": entry.livemode,
        "thin": entry.thin, "related_object_id": entry.related_object_id,
        "related_object_type": entry.related_object_type, "payload": payload,
        "created_at": entry.created_at, "received_at": received_at,
        "status": (InboxStatus.needs_fetch if entry.thin else InboxStatus.pending).value,
        "tries": 0, "deferrals": 0,
    }


def store_rows(db: Session | Connection, rows: list[dict]) -> set[tuple[str, str]]:
    """Insert the rows (``inbox_row``) not there yet, the caller commits (through the session or
    connection ``db``); returns the
    ``(account_id, stripe_event_id)`` of those this call stored. One statement for them all
    (``inbox_insert``); a conflict returns no row, and of two rows for one event only the first
    is stored."""
    if not rows:
        return set()
    unique: dict[tuple[str, str], dict] = {}
    for row in rows:
        unique.setdefault((row["account_id"], row["stripe_event_id"]), row)
    connection = db.connection() if isinstance(db, Session) else db
    return insert_rows(connection, list(unique.values()))
