"""No charge and no "payment failed" message after a cancellation or a finished invoice, in
whatever order Stripe delivers the events (real signed webhooks, Stripe stubbed at the HTTP edge).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models import (
    ActionKind,
    ActionStatus,
    CanceledSubscription,
    CaseStatus,
    ChargeAttempt,
    FinishedInvoice,
    InboxStatus,
    RecoveryCase,
    ScheduledAction,
    WebhookEvent,
)
from recovery.ingest.inbox import redrive
from recovery.worker.jobs import ingest_inbox, run_actions
from tests.recovery.engine.test_batches import post
from tests.recovery.engine.test_e2e import deliver, failed_event, scheduled, the_case
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p

OTHER_INVOICE = "in_SameSubscription2"


def everything(services) -> tuple[list[RecoveryCase], list[ScheduledAction]]:
    with services.sessions() as session:
        return (list(session.exec(select(RecoveryCase))),
                list(session.exec(select(ScheduledAction))))


def run_a_month(services) -> None:
    for _ in range(30):
        services.clock.advance(timedelta(days=1))
        run_actions(services)


@pytest.mark.parametrize("ending", ["invoice.paid", "invoice.voided",
                                    "invoice.marked_uncollectible"])
def test_a_failure_that_arrives_after_the_invoice_finished_opens_no_case(
        client, services, stub, ending):
    stub.status = {"invoice.paid": "paid", "invoice.voided": "void"}.get(ending, "uncollectible")
    deliver(client, services, p.invoice_event(ending, p.LATEST, created=services.clock.now()))
    # Stripe's earlier failure event, delivered late; then a second delivery of it.
    late = failed_event(services, created=services.clock.now() - timedelta(minutes=5))
    deliver(client, services, late)
    deliver(client, services, {**late, "id": "evt_redelivered"})
    run_a_month(services)

    assert everything(services) == ([], [])  # no case, so no message and no charge
    assert stub.pay_keys == []
    with services.sessions() as session:
        (trace,) = session.exec(select(FinishedInvoice)).all()
    assert (trace.stripe_invoice_id, trace.status) == (p.INVOICE_ID, stub.status)


def test_no_invoice_of_a_canceled_subscription_opens_a_case(client, services, stub):
    stub.declines[OTHER_INVOICE] = Decline("do_not_honor", network_decline_code="05")
    deliver(client, services, p.subscription_deleted_event(p.LATEST,
                                                           created=services.clock.now()))
    deliver(client, services, failed_event(services))
    deliver(client, services, failed_event(services, invoice_id=OTHER_INVOICE))
    run_a_month(services)

    assert everything(services) == ([], [])
    assert stub.pay_keys == []
    # Still declines on the customer's cards: counted, with no case to plan.
    with services.sessions() as session:
        counted = session.exec(select(ChargeAttempt).order_by(ChargeAttempt.id)).all()
    assert [(a.stripe_invoice_id, a.case_id, a.by) for a in counted] == [
        (p.INVOICE_ID, None, "stripe"), (OTHER_INVOICE, None, "stripe")]


def test_a_failure_re_driven_after_the_invoice_was_paid_opens_no_case(client, services, stub):
    # Stripe refuses the decline-details read: the failure waits in the inbox with its error.
    stub.outage = (400, {"type": "invalid_request_error", "message": "No such invoice"})
    deliver(client, services, failed_event(services))
    stub.outage = None
    stub.status = "paid"
    deliver(client, services, p.invoice_event("invoice.paid", p.LATEST,
                                              created=services.clock.now()))
    with services.sessions() as session:
        failure = session.exec(select(WebhookEvent).where(
            WebhookEvent.type == "invoice.payment_failed")).one()
    assert failure.status == InboxStatus.pending.value and failure.last_error

    assert redrive(services.sessions, event_id=failure.stripe_event_id) == 1
    ingest_inbox(services)
    run_a_month(services)

    assert everything(services) == ([], [])
    assert stub.pay_keys == []


@pytest.mark.parametrize("paid_first", [True, False])
def test_a_payment_and_a_failure_in_one_ingest_batch_leave_no_open_case(
        client, services, stub, paid_first):
    stub.status = "paid"
    paid = p.invoice_event("invoice.paid", p.LATEST, created=services.clock.now())
    failed = failed_event(services, created=services.clock.now() - timedelta(minutes=5))
    for event in ([paid, failed] if paid_first else [failed, paid]):
        post(client, services, event)
    ingest_inbox(services)  # both in one batch
    run_a_month(services)

    cases, actions = everything(services)
    assert [c.status for c in cases] == ([] if paid_first else [CaseStatus.recovered.value])
    assert not [a for a in actions if (a.params or {}).get("template") == "payment_failed"
                and a.status != ActionStatus.canceled.value]
    assert stub.pay_keys == []


def test_a_retry_finds_the_subscription_canceled_and_never_charges(client, services, stub):
    deliver(client, services, failed_event(services))
    run_actions(services)  # take ownership, tell the customer
    (retry,) = scheduled(services, ActionKind.retry)
    stub.subscription_status = "canceled"  # its webhook has not arrived yet
    services.clock.set(retry.due_at)
    run_actions(services)

    assert stub.pay_keys == []
    assert "retrieve_subscription" in stub.calls
    assert the_case(services).status == CaseStatus.canceled
    with services.sessions() as session:
        action = session.get(ScheduledAction, retry.id)
        (trace,) = session.exec(select(CanceledSubscription)).all()
    assert (action.status, action.result) == (ActionStatus.canceled.value,
                                              {"skipped": "subscription canceled"})
    assert trace.stripe_subscription_id == p.SUBSCRIPTION_ID
    # The trace holds for the subscription's other invoices too.
    deliver(client, services, failed_event(services, invoice_id=OTHER_INVOICE))
    assert len(everything(services)[0]) == 1


def test_what_the_scorer_reads_is_recorded(client, services, stub):
    """The plan's interval (the invoice line's period), the card's expiry on the attempt and
    whose invoice was paid: features of the smart-timing scorer."""
    deliver(client, services, failed_event(services))
    case = the_case(services)
    assert case.plan_interval_days == 30
    with services.sessions() as session:
        (attempt,) = session.exec(select(ChargeAttempt)).all()
    assert (attempt.card_exp_month, attempt.card_exp_year) != (None, None)
    stub.status = "paid"
    deliver(client, services, p.invoice_event("invoice.paid", p.LATEST,
                                              created=services.clock.now()))
    with services.sessions() as session:
        (trace,) = session.exec(select(FinishedInvoice)).all()
    assert trace.stripe_customer_id == p.CUSTOMER_ID
