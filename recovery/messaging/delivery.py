"""A message's life in the ``message`` table: written ``pending`` (with its stable message id)
before its channel is called, ``sent`` once the channel accepted it.

A crash between the write and the delivery, or a channel that refuses, leaves the message pending;
the re-send job delivers it again, with the same message id, once its next attempt is due, until
the channel accepts it or has refused it ``max_tries`` times (then ``failed``, with an alert).
Delivery is at least once: a receiver recognises a repeat by its message id.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update
from sqlmodel import Session

from models import Message, MessageStatus, RecoveryCase
from recovery.messaging.notifier import MessageChannel, MessageOffer, OutgoingMessage
from recovery.runtime.claims import claim_rows
from recovery.runtime.clock import Clock
from recovery.runtime.db import DIALECT_INSERTS, SessionFactory, transaction

log = logging.getLogger("recovery.messaging")
MESSAGES = Message.__table__
FAILED_ALERT = "ALERT: a customer message could not be delivered"
# A re-send whose worker died is due again after this (its row stays pending meanwhile).
RESEND_LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=6)
# What a re-send reads back to send the message exactly as it was written.
CONTENT_COLUMNS = ("account_id", "case_id", "message_id", "stripe_customer_id", "kind", "channel",
                   "subject", "to_address", "body_text", "body_html", "locale", "sender",
                   "reply_to", "unsubscribe_url", "offer")


@dataclass(frozen=True)
class QueuedMessage:
    row_id: int
    message: OutgoingMessage


@dataclass
class ResendResult:
    sent: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.refused


def queue_message(session: Session, message: OutgoingMessage, *, case_id: int | None,
                  action_id: int, resend_at: datetime) -> QueuedMessage | None:
    """Write the message ``pending``, once per action, in the caller's transaction; None when
    the action already wrote it (its delivery is then the re-send job's)."""
    dialect_insert = DIALECT_INSERTS[session.get_bind().dialect.name]
    row_id = session.execute(
        dialect_insert(MESSAGES).values(
            account_id=message.account_id, case_id=case_id, action_id=action_id,
            message_id=message.message_id, stripe_customer_id=message.customer_id,
            kind=message.kind, channel=message.channel, subject=message.subject,
            to_address=message.to_address, body_text=message.text, body_html=message.html,
            locale=message.locale, sender=message.sender, reply_to=message.reply_to,
            unsubscribe_url=message.unsubscribe_url,
            offer=asdict(message.offer) if message.offer is not None else None,
            status=MessageStatus.pending.value, tries=0, created_at=message.sent_at,
            next_attempt_at=resend_at)
        .on_conflict_do_nothing()
        .returning(MESSAGES.c.id)).scalar()
    return None if row_id is None else QueuedMessage(row_id, message)


def deliver(sessions: SessionFactory, clock: Clock, channel: MessageChannel,
            queued: QueuedMessage, *, max_tries: int) -> bool:
    """Hand the message to its channel and record what it said; never raises for the channel."""
    try:
        channel.deliver(queued.message)
    except Exception as problem:  # noqa: BLE001 - a channel's failure is recorded, not raised
        _record_refusal(sessions, clock, queued, f"{type(problem).__name__}: {problem}",
                        max_tries)
        return False
    with transaction(sessions) as session:
        sent = session.execute(_still_pending(queued.row_id).values(
            status=MessageStatus.sent.value, sent_at=clock.now(), next_attempt_at=None,
            error=None).returning(MESSAGES.c.case_id, MESSAGES.c.channel,
                                  MESSAGES.c.sent_at)).first()
        if sent is not None and sent.case_id is not None:
            _count_on_case(session, sent.case_id, sent.channel, sent.sent_at)
    return True


def _count_on_case(session: Session, case_id: int, channel: str, sent_at: datetime) -> None:
    """Add the message to its case's tallies (``recovery/engine/case_tallies.py``) if the case
    was open when it was sent; the latest message's channel is the case's last channel. One
    statement on the case row: concurrent deliveries for one case take turns on its lock."""
    cases = RecoveryCase.__table__.c
    is_latest = or_(cases.last_message_at.is_(None), cases.last_message_at <= sent_at)
    session.execute(
        update(RecoveryCase.__table__)
        .where(cases.id == case_id, or_(cases.closed_at.is_(None), cases.closed_at >= sent_at))
        .values(message_count=cases.message_count + 1,
                last_message_channel=case((is_latest, channel),
                                          else_=cases.last_message_channel),
                last_message_at=case((is_latest, sent_at), else_=cases.last_message_at)))


def resend_pending(sessions: SessionFactory, clock: Clock, channel: MessageChannel, *,
                   max_tries: int, batch_size: int = 100) -> ResendResult:
    """Deliver again every pending message whose next attempt is due, with its message id."""
    result = ResendResult()
    for queued in _claim_due(sessions, clock, batch_size):
        log.info("re-sending a pending message", extra={"message_id": queued.message.message_id})
        if deliver(sessions, clock, channel, queued, max_tries=max_tries):
            result.sent += 1
        else:
            result.refused += 1
    return result


def _claim_due(sessions: SessionFactory, clock: Clock, limit: int) -> list[QueuedMessage]:
    """Take due pending messages for this worker by moving their next attempt past a lease, so
    another worker's re-send job passes over them."""
    now = clock.now()
    columns = [MESSAGES.c[name] for name in CONTENT_COLUMNS]
    with transaction(sessions) as session:
        rows = claim_rows(
            session, MESSAGES, from_status=MessageStatus.pending.value,
            filters=[MESSAGES.c.next_attempt_at <= now],
            order_by=[MESSAGES.c.next_attempt_at, MESSAGES.c.id], limit=limit,
            values={"next_attempt_at": now + RESEND_LEASE}, columns=columns)
        invoices = _invoices_of(session, {row.case_id for row in rows if row.case_id})
    return [QueuedMessage(row.id, _rebuilt(row, invoices.get(row.case_id), now)) for row in rows]


def _invoices_of(session: Session, case_ids: set[int]) -> dict[int, tuple[str, str | None]]:
    """Each case's invoice id and payment link, which the message names."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(RecoveryCase.id, RecoveryCase.stripe_invoice_id, RecoveryCase.hosted_invoice_url)
        .where(RecoveryCase.id.in_(case_ids)))
    return {case_id: (invoice_id, link) for case_id, invoice_id, link in rows}


def _rebuilt(row, invoice: tuple[str, str | None] | None, now: datetime) -> OutgoingMessage:
    """The message as it was first written: same id, recipient, bodies, links and offer."""
    invoice_id, link = invoice or (None, None)
    return OutgoingMessage(
        account_id=row.account_id, customer_id=row.stripe_customer_id, invoice_id=invoice_id,
        kind=row.kind, channel=row.channel, subject=row.subject, sent_at=now, link=link,
        message_id=row.message_id, to_address=row.to_address, text=row.body_text,
        html=row.body_html, locale=row.locale, unsubscribe_url=row.unsubscribe_url,
        reply_to=row.reply_to, sender=row.sender,
        offer=MessageOffer(**row.offer) if row.offer else None)


def _record_refusal(sessions: SessionFactory, clock: Clock, queued: QueuedMessage, error: str,
                    max_tries: int) -> None:
    with transaction(sessions) as session:
        tries = session.scalar(select(MESSAGES.c.tries).where(MESSAGES.c.id == queued.row_id)) + 1
        values = {"tries": tries, "error": error[:2000]}
        if tries >= max_tries:
            values |= {"status": MessageStatus.failed.value, "next_attempt_at": None}
        else:
            wait = min(timedelta(minutes=5) * 2 ** (tries - 1), MAX_BACKOFF)
            values["next_attempt_at"] = clock.now() + wait
        session.execute(_still_pending(queued.row_id).values(**values))
    if tries >= max_tries:
        log.error(FAILED_ALERT, extra={"message_id": queued.message.message_id, "tries": tries,
                                       "error": error[:200]})
    else:
        log.warning("message not delivered; it will be re-sent",
                    extra={"message_id": queued.message.message_id, "tries": tries,
                           "error": error[:200]})


def _still_pending(row_id: int):
    return update(MESSAGES).where(MESSAGES.c.id == row_id,
                                  MESSAGES.c.status == MessageStatus.pending.value)
