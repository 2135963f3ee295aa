"""Pre-dunning: the sweep finds cards on file expiring soon and sends one notice per card and
expiry, at a time the contact rules allow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from models import Account, CaseStatus, ChargeAttempt, Message, MessageStatus, RecoveryCase
from recovery.engine.card_expiry import expiring_cards
from recovery.engine.policies import stored_communication
from recovery.worker.jobs import job_specs, resend_pending_messages, sweep_expiring_cards
from tests.recovery.actions.flow import deliver
from tests.webhooks import payloads as p

NOV_17 = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # 14 days before a November card expires


def add_case_with_attempt(services, customer: str, fingerprint: str, exp: tuple[int, int], *,
                          on_file: str | None = None, status: str = CaseStatus.open.value,
                          zone: str = "UTC") -> None:
    now = services.clock.now()
    with services.sessions() as session:
        case = RecoveryCase(
            account_id=services.settings.account_id, stripe_invoice_id=f"in_{customer}",
            stripe_customer_id=customer, card_fingerprint=on_file or fingerprint,
            status=status, customer_timezone=zone, first_failed_at=now, created_at=now,
            updated_at=now)
        session.add(case)
        session.flush()
        session.add(ChargeAttempt(
            account_id=case.account_id, case_id=case.id, attempted_at=now,
            card_fingerprint=fingerprint, card_brand="visa", card_exp_month=exp[0],
            card_exp_year=exp[1], created_at=now))
        session.commit()


def sent(services) -> list[Message]:
    with services.sessions() as session:
        return list(session.exec(select(Message).order_by(Message.id)))


def due_cards(services):
    with services.sessions() as session:
        return expiring_cards(session, services.clock.now(), stored_communication)


def test_a_card_from_the_attempts_is_due_from_14_days_before_it_expires(services):
    add_case_with_attempt(services, "cus_a", "fp_a", (12, 2026))  # works until 1 January
    services.clock.set(datetime(2026, 12, 17, 23, 59, tzinfo=UTC))
    assert due_cards(services) == []
    services.clock.set(datetime(2026, 12, 18, 0, 0, tzinfo=UTC))
    (card,) = due_cards(services)
    assert (card.customer_id, card.card_key, card.expires_at) == (
        "cus_a", "fp_a", datetime(2027, 1, 1, tzinfo=UTC))
    services.clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert due_cards(services) == []  # expired: too late for a notice


def test_a_replaced_card_or_a_canceled_subscription_needs_no_notice(services):
    add_case_with_attempt(services, "cus_b", "fp_old", (12, 2026), on_file="fp_new")
    add_case_with_attempt(services, "cus_c", "fp_c", (12, 2026),
                          status=CaseStatus.canceled.value)
    services.clock.set(datetime(2026, 12, 20, tzinfo=UTC))
    assert due_cards(services) == []


def test_the_sweep_sends_one_notice_per_card_and_expiry(client, services, stub):
    deliver(client, services, p.source_expiring_event(exp_month=11, exp_year=2026))
    services.clock.set(NOV_17)
    assert sweep_expiring_cards(services) == 1
    (message,) = sent(services)
    assert (message.kind, message.case_id, message.status) == ("card_expiring", None,
                                                               MessageStatus.sent)
    assert message.stripe_customer_id == p.CUSTOMER_ID
    services.clock.advance(timedelta(days=1))
    assert sweep_expiring_cards(services) == 0  # the same card and expiry: never again
    assert len(sent(services)) == 1


def test_a_notice_due_at_night_is_written_for_the_morning_and_delivered_then(
        client, services, stub):
    with services.sessions() as session:
        session.get(Account, services.settings.account_id).timezone = "Europe/Berlin"
        session.commit()
    deliver(client, services, p.source_expiring_event(exp_month=11, exp_year=2026))
    services.clock.set(datetime(2026, 11, 17, 22, 0, tzinfo=UTC))  # 23:00 in Berlin
    assert sweep_expiring_cards(services) == 1
    (message,) = sent(services)
    morning = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert (message.status, message.created_at, message.next_attempt_at) == (
        MessageStatus.pending, morning, morning)
    assert resend_pending_messages(services) == 0
    services.clock.set(morning)
    assert resend_pending_messages(services) == 1
    assert sent(services)[0].status == MessageStatus.sent


def test_no_notice_when_the_policy_turns_them_off(client, services, stub):
    with services.sessions() as session:
        account = session.get(Account, services.settings.account_id)
        account.policy = {"communication": {"card_expiring_days_before": 0}}
        session.commit()
    deliver(client, services, p.source_expiring_event(exp_month=11, exp_year=2026))
    services.clock.set(NOV_17)
    assert sweep_expiring_cards(services) == 0


def test_the_sweep_runs_daily(services):
    (spec,) = [s for s in job_specs(1.0) if s.name == "sweep_expiring_cards"]
    assert (spec.every_seconds, spec.run) == (24 * 3600, sweep_expiring_cards)
