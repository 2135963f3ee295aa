"""Outbound events: what the engine tells a company's own systems (CRM, ERP) about its cases.

``emit_event`` writes the event and one ``outbound_event`` action per enabled endpoint of the
account subscribed to its type, in the caller's transaction: a case change and its event commit
together, or neither does. An event is written once per account and ``dedupe_key``
(``case:<id>:<type>`` for a case's events), so a fact handled twice, a replayed Stripe webhook or
a batch handled again after a rollback emits nothing more. An event no endpoint subscribes to
is not kept.

The body is our own JSON: ids, amounts in minor units, statuses and times; never a card number,
a fingerprint or a secret. Sending it is the action runner's (``actions.outbound_event``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, insert, select
from sqlmodel import Session

from models import (
    ActionKind,
    ActionStatus,
    Offer,
    OutboundEndpoint,
    OutboundEvent,
    OutboundEventType,
    RecoveryCase,
)
from recovery.engine.case_store import ACTIONS
from recovery.runtime.clock import Clock
from recovery.runtime.db import DIALECT_INSERTS

log = logging.getLogger("recovery.outbound")
EVENTS = OutboundEvent.__table__
ENDPOINTS = OutboundEndpoint.__table__
EVENT_ID_PREFIX = "evt_"
ENDPOINTS_READ = "recovery.outbound_endpoints"  # session.info key: endpoints per account
INSERT_ACTION = insert(ACTIONS)
LIVE_ENDPOINTS = (
    select(ENDPOINTS.c.id, ENDPOINTS.c.event_types)
    .where(ENDPOINTS.c.account_id == bindparam("account_id"), ENDPOINTS.c.enabled.is_(True),
           ENDPOINTS.c.deleted_at.is_(None))
    .order_by(ENDPOINTS.c.id))


def emit_event(session: Session, account_id: str, event_type: OutboundEventType, data: dict,
               clock: Clock, *, dedupe_key: str, case_id: int) -> str | None:
    """Record the event and schedule its delivery to every endpoint subscribed to its type;
    returns its id (``evt_…``), or None when no endpoint wants it or it was emitted before."""
    endpoint_ids = subscribed_endpoints(session, account_id, event_type)
    if not endpoint_ids:
        return None
    now = clock.now()
    event_id = EVENT_ID_PREFIX + uuid.uuid4().hex
    body = {"id": event_id, "type": event_type.value, "created_at": _iso(now),
            "account_id": account_id, "data": data}
    row_id = session.execute(_insert_event(session.get_bind().dialect.name), dict(
        account_id=account_id, event_id=event_id, type=event_type.value, case_id=case_id,
        dedupe_key=dedupe_key, payload=body, created_at=now)).scalar()
    if row_id is None:
        return None  # emitted before: the first one stands
    session.execute(INSERT_ACTION, [
        dict(account_id=account_id, case_id=case_id, kind=ActionKind.outbound_event.value,
             due_at=now, status=ActionStatus.scheduled.value,
             params={"outbound_event_id": row_id, "endpoint_id": endpoint_id},
             reason=f"send {event_type.value} to endpoint {endpoint_id}", tries=0,
             created_at=now)
        for endpoint_id in endpoint_ids])
    log.info("outbound event emitted", extra={"event": event_id, "type": event_type.value,
                                              "endpoints": len(endpoint_ids)})
    return event_id


@cache
def _insert_event(dialect: str):
    """The event's insert, built once per dialect: a second emission of one dedupe key writes
    nothing and returns no id."""
    return (DIALECT_INSERTS[dialect](EVENTS)
            .on_conflict_do_nothing(index_elements=[EVENTS.c.account_id, EVENTS.c.dedupe_key])
            .returning(EVENTS.c.id))


def subscribed_endpoints(session: Session, account_id: str,
                         event_type: OutboundEventType) -> list[int]:
    """The ids of the account's enabled endpoints that subscribe to ``event_type``.

    Read once per account and unit of work (``session.info``): an ingest batch opening a
    hundred cases asks once, not a hundred times, and most accounts have no endpoint at all."""
    known = session.info.setdefault(ENDPOINTS_READ, {})
    if account_id not in known:
        known[account_id] = session.execute(LIVE_ENDPOINTS, {"account_id": account_id}).all()
    return [endpoint_id for endpoint_id, types in known[account_id]
            if event_type.value in (types or ())]


def emit_case_event(session: Session, case: RecoveryCase, event_type: OutboundEventType,
                    clock: Clock, *, dedupe_key: str | None = None, **extra) -> str | None:
    """Emit a case's event, once per case and type unless ``dedupe_key`` says otherwise;
    ``extra``: more fields of ``data`` beside the case."""
    if not subscribed_endpoints(session, case.account_id, event_type):
        return None  # the usual case: say nothing, build nothing
    return emit_event(session, case.account_id, event_type, {"case": case_data(case), **extra},
                      clock, dedupe_key=dedupe_key or f"case:{case.id}:{event_type.value}",
                      case_id=case.id)


def emit_offer_accepted(session: Session, case: RecoveryCase, offer: Offer,
                        clock: Clock) -> str | None:
    return emit_case_event(session, case, OutboundEventType.offer_accepted, clock,
                           dedupe_key=f"offer:{offer.id}:accepted", offer=offer_data(offer))


def case_data(case: RecoveryCase) -> dict:
    """What a receiver learns of a case: no card details beyond its decline class."""
    return {
        "id": case.id, "invoice_id": case.stripe_invoice_id,
        "customer_id": case.stripe_customer_id, "subscription_id": case.stripe_subscription_id,
        "amount_due": case.amount_due, "currency": case.currency, "status": case.status,
        "waiting_for": case.waiting_for, "recovered_by": case.recovered_by,
        "decline_class": case.last_decline_class,
        "first_failed_at": _iso(case.first_failed_at), "opened_at": _iso(case.created_at),
        "closed_at": _iso(case.closed_at),
    }


def offer_data(offer: Offer) -> dict:
    return {"id": offer.id, "kind": offer.kind, "percent_off": offer.percent_off,
            "months": offer.months, "revenue_given_up": offer.revenue_given_up,
            "currency": offer.currency, "accepted_at": _iso(offer.accepted_at)}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
