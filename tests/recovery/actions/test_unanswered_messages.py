"""How many dunning messages a customer has left unanswered (``max_unanswered``): counted across
their cases since their latest recovered invoice or card change."""

from __future__ import annotations

from datetime import timedelta

from models import Message, RecoveryCase
from recovery.actions.contact_check import unanswered_messages
from recovery.runtime.db import transaction


def add_case(session, services, invoice: str, opened, **fields) -> RecoveryCase:
    case = RecoveryCase(account_id=services.settings.account_id, stripe_invoice_id=invoice,
                        stripe_customer_id=fields.pop("customer", "cus_u"), first_failed_at=opened,
                        created_at=opened, updated_at=opened, **fields)
    session.add(case)
    session.flush()
    return case


def add_message(session, case: RecoveryCase, kind: str, at, status: str = "sent") -> None:
    session.add(Message(account_id=case.account_id, case_id=case.id,
                        message_id=f"<{case.id}-{kind}-{at:%j%H}@t>",
                        stripe_customer_id=case.stripe_customer_id, kind=kind, status=status,
                        created_at=at, sent_at=at if status == "sent" else None))


def test_unanswered_dunning_counts_since_the_latest_recovery_or_card_change(services):
    day, now = timedelta(days=1), services.clock.now()
    account = services.settings.account_id
    with transaction(services.sessions) as session:
        first = add_case(session, services, "in_1", now - 90 * day, status="recovered",
                         closed_at=now - 80 * day)
        add_message(session, first, "payment_failed", now - 90 * day)  # answered: it paid
        add_message(session, first, "payment_recovered", now - 80 * day)
        second = add_case(session, services, "in_2", now - 60 * day, status="exhausted",
                          closed_at=now - 32 * day)
        add_message(session, second, "payment_failed", now - 60 * day)
        add_message(session, second, "reminder", now - 53 * day)
        add_message(session, second, "final_notice", now - 35 * day, status="failed")
        third = add_case(session, services, "in_3", now - 2 * day)
        add_message(session, third, "payment_failed", now - 2 * day)
        add_message(session, third, "card_expiring", now - day)  # not dunning
        other = add_case(session, services, "in_4", now - 2 * day, customer="cus_other")
        add_message(session, other, "payment_failed", now - 2 * day)
    with services.sessions() as session:
        # The two of the exhausted case and the third's notice; not the refused final notice.
        assert unanswered_messages(session, account, "cus_u") == 3
        assert unanswered_messages(session, account, "cus_other") == 1
        assert unanswered_messages(session, account, "cus_nobody") == 0
        assert unanswered_messages(session, account, None) == 0
    with transaction(services.sessions) as session:
        session.get(RecoveryCase, third.id).card_changed_at = now - day
    with services.sessions() as session:
        assert unanswered_messages(session, account, "cus_u") == 0
