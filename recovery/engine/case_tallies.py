"""A case's tallies of its charge attempts and messages, kept on the ``recovery_case`` row.

The recovery-rate reports group and count a period's cases by their first failure (decline
class, card brand, country), their attempts, the attempt that paid and their messages. Looking
those up per case at report time reads a quarter of a million attempt rows for a quarter's
cases; written once here, as the facts arrive, the reports read them off the cases alone.

- Attempts: recounted from the case's own attempt rows (a handful, by index) each time one is
  recorded or merged. A recount rather than an increment, because a later report about a charge
  can reclassify it, link it to the case late, or describe an attempt older than those already
  known (webhooks arrive in any order).
- Messages: counted by the message delivery when a channel accepts one
  (``recovery/messaging/delivery.py``), in the same transaction, only while the case is open.

``recount`` recomputes everything from the rows, for data written by other means (a data
migration, a hand-built test set) and to check the kept tallies against.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from models import ChargeAttempt, Message, MessageStatus, RecoveryCase


def refresh_attempt_tallies(session: Session, case: RecoveryCase) -> None:
    """Recount the case's attempt tallies from its attempt rows (flushed first)."""
    session.flush()
    # The case row is locked before its attempts are read, so two transactions recording
    # attempts of one case take turns and the second counts the first's (on PostgreSQL; SQLite
    # has one writer at a time). NO KEY UPDATE: an attempt's insert holds a KEY SHARE lock on
    # its case, which a FOR UPDATE would wait for (two of them, a deadlock).
    session.execute(select(RecoveryCase.id).where(RecoveryCase.id == case.id)
                    .with_for_update(key_share=True))
    rows = session.execute(
        select(ChargeAttempt.succeeded, ChargeAttempt.by, ChargeAttempt.decline_class,
               ChargeAttempt.card_brand, ChargeAttempt.card_country)
        .where(ChargeAttempt.case_id == case.id)
        .order_by(ChargeAttempt.attempted_at, ChargeAttempt.id)).all()
    failed = [row for row in rows if not row.succeeded]
    first = failed[0] if failed else None
    case.first_decline_class = first.decline_class if first else None
    case.first_card_brand = first.card_brand if first else None
    case.first_card_country = first.card_country if first else None
    case.attempt_count = len(rows)
    case.engine_attempt_count = sum(1 for row in rows if row.by == "engine")
    case.failed_attempt_count = len(failed)
    case.paying_attempt_number = next(
        (number for number, row in enumerate(rows, start=1) if row.succeeded), None)


def recount(session: Session, case: RecoveryCase) -> None:
    """Recompute every tally of the case from its attempt and message rows."""
    refresh_attempt_tallies(session, case)
    conditions = [Message.case_id == case.id, Message.status == MessageStatus.sent.value]
    if case.closed_at is not None:
        conditions.append(Message.sent_at <= case.closed_at)
    counted = select(Message.channel, Message.sent_at).where(*conditions)
    count = session.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
    latest = session.execute(
        counted.order_by(Message.sent_at.desc(), Message.id.desc()).limit(1)).first()
    case.message_count = int(count)
    case.last_message_channel = latest.channel if latest else None
    case.last_message_at = latest.sent_at if latest else None
