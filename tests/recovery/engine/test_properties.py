"""Property: whatever facts and declines arrive, in any order, one at a time or in ingest
batches (planned together at the end), the engine never schedules or makes a charge that the
network rules forbid.

Stripe is replaced here by an in-memory gateway double (the same methods as the real gateway)
so that hypothesis can run many sequences quickly; the HTTP edge is covered by the e2e tests.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from models import ActionKind, ActionStatus, RecoveryCase, ScheduledAction
from recovery.accounts.directory import ensure_default_account
from recovery.engine import case_store as cases
from recovery.messaging.outbox import EmlOutboxChannel
from recovery.rules.network_rules import check_attempt
from recovery.runtime.clock import VirtualClock
from recovery.runtime.settings import Settings
from recovery.stripe_api.results import (
    AttemptDetails,
    InvoiceState,
    PaymentOutcome,
    SubscriptionState,
)
from recovery.wiring import build_services, wire_engine
from recovery.worker.jobs import run_actions
from tests.conftest import START
from webhooks.facts import CardInfo, ChargeFailed, DeclineInfo, PaymentFailed, PaymentMethodChanged

DECLINES = [
    DeclineInfo("card_declined", "insufficient_funds", network_decline_code="51"),
    DeclineInfo("card_declined", "insufficient_funds", network_decline_code="51",
                network_advice_code="26"),
    DeclineInfo("card_declined", "do_not_honor", network_decline_code="05"),
    DeclineInfo("card_declined", "stolen_card", network_decline_code="43"),
    DeclineInfo("card_declined", "generic_decline", advice_code="do_not_try_again"),
    DeclineInfo("card_declined", "generic_decline", outcome_type="blocked",
                outcome_reason="previously_declined_do_not_retry"),
    DeclineInfo("card_decline_rate_limit_exceeded"),
    DeclineInfo("expired_card", network_decline_code="54"),
    DeclineInfo("card_declined", "try_again_later", network_advice_code="03"),
    DeclineInfo("processing_error"),
    DeclineInfo("card_declined", "unheard_of_code"),
]
CARDS = [CardInfo("fp_a", "visa"), CardInfo("fp_b", "mastercard"), CardInfo("fp_c", "visa")]

steps = st.lists(st.one_of(
    st.tuples(st.just("stripe_failure"), st.integers(0, len(DECLINES) - 1), st.integers(0, 1)),
    st.tuples(st.just("invoice_failed"), st.integers(0, 1), st.just(0)),
    st.tuples(st.just("new_card"), st.integers(0, len(CARDS) - 1), st.integers(0, 1)),
    st.tuples(st.just("wait"), st.integers(1, 72), st.just(0)),
    st.tuples(st.just("retry_declines"), st.integers(0, len(DECLINES) - 1), st.just(0)),
), min_size=1, max_size=25)


class GatewayDouble:
    def __init__(self, clock, sessions) -> None:
        self.clock, self.sessions = clock, sessions
        self.next_decline = DECLINES[0]
        self.violations: list[str] = []
        self.charges = 0
        self.charge_cards: dict[str, CardInfo] = {}

    def retrieve_invoice(self, invoice_id, *, stripe_account=None):
        return InvoiceState(invoice_id, "open", "cus_1", "sub_1", 1000, 1000, "usd", 1, None,
                            False, None, None)

    def retrieve_subscription(self, subscription_id, *, stripe_account=None):
        return SubscriptionState(subscription_id, "past_due")

    def pay_invoice(self, invoice_id, *, idempotency_key, payment_method_id=None,
                    stripe_account=None):
        with self.sessions() as session:
            case = cases.case_for_invoice(session, "acct_default", invoice_id)
            history = cases.card_history(session, "acct_default", case.card_fingerprint)
        decision = check_attempt(case.card_fingerprint, case.card_brand, self.clock.now(), history)
        if not decision.allowed:
            self.violations.append(f"charged {invoice_id} although: {decision.reason}")
        self.charges += 1
        return PaymentOutcome(False, self.next_decline, None, f"ch_retry_{self.charges}", "pi_1")

    def set_auto_advance(self, *args, **kwargs):
        return None

    def charge_details(self, charge_id, *, stripe_account=None):
        card = self.charge_cards.get(charge_id)
        return AttemptDetails(None, card, charge_id, "pi_1", False)

    def latest_attempt(self, invoice_id, *, stripe_account=None):
        return None

    def payment_method_card(self, payment_method_id, *, stripe_account=None):
        return None

    def mark_uncollectible(self, *args, **kwargs):
        return None

    def cancel_subscription(self, *args, **kwargs):
        return "canceled"

    def close(self) -> None:
        return None


def fresh_services(template: str, workdir: Path):
    path = workdir / "p.db"
    shutil.copy(template, path)
    clock = VirtualClock(START)
    built = build_services(Settings(database_url=f"sqlite:///{path}", run_worker=False), clock)
    ensure_default_account(built.sessions, built.settings, clock)
    gateway = GatewayDouble(clock, built.sessions)
    wire_engine(built, gateway, EmlOutboxChannel(workdir / "outbox"))
    return built, gateway


def apply(services, gateway, step, counter, pending: list | None) -> None:
    """Play one step; with ``pending`` (batched mode) facts wait there until time passes."""
    kind, a, b = step
    now = services.clock.now()
    counter[0] += 1
    n = counter[0]
    with services.sessions() as session:
        if kind == "stripe_failure":
            charge = f"ch_{n}"
            gateway.charge_cards[charge] = CARDS[b]
            fact = ChargeFailed(f"evt_{n}", now, charge, "pi_1", "in_1", "cus_1", 1000, "usd",
                                DECLINES[a], CARDS[b])
        elif kind == "invoice_failed":
            charge = f"ch_{n}"
            gateway.charge_cards[charge] = CARDS[a]
            fact = PaymentFailed(f"evt_{n}", now, "in_1", "cus_1", "sub_1", 1000, "usd", 1, None,
                                 "subscription_cycle", charge, "pi_1")
        elif kind == "new_card":
            fact = PaymentMethodChanged(f"evt_{n}", now, "cus_1", f"pm_{n}", CARDS[a], bool(b),
                                        "payment_method.attached")
        elif kind == "retry_declines":
            gateway.next_decline = DECLINES[a]
            return
        else:
            handle_batch(services, pending)
            services.clock.advance(timedelta(hours=a))
            run_actions(services)
            return
        if pending is not None:
            pending.append(fact)
            return
        services.handler(session, "acct_default", fact)
        session.commit()


def handle_batch(services, pending: list | None) -> None:
    """The queued facts in one transaction, as the ingest job handles a batch."""
    if not pending:
        return
    facts = [("acct_default", fact) for fact in pending]
    prefetched = services.engine.prefetch(facts)
    with services.sessions() as session:
        with services.engine.batch(session, prefetched):
            for account_id, fact in facts:
                services.handler(session, account_id, fact)
        session.commit()
    pending.clear()


def assert_scheduled_retries_are_allowed(services) -> None:
    with services.sessions() as session:
        retries = session.exec(select(ScheduledAction).where(
            ScheduledAction.kind == ActionKind.retry.value,
            ScheduledAction.status == ActionStatus.scheduled.value))
        for action in retries:
            case = session.get(RecoveryCase, action.case_id)
            history = cases.card_history(session, "acct_default", case.card_fingerprint)
            if case.card_fingerprint:
                decision = check_attempt(case.card_fingerprint, case.card_brand, action.due_at,
                                         history)
                assert decision.allowed, f"scheduled {action.reason!r} but {decision.reason}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=steps, batched=st.booleans())
def test_the_engine_never_schedules_or_makes_a_forbidden_charge(sqlite_template, sequence,
                                                                batched):
    with tempfile.TemporaryDirectory() as workdir:
        services, gateway = fresh_services(sqlite_template, Path(workdir))
        counter, pending = [0], ([] if batched else None)
        try:
            for step in sequence:
                apply(services, gateway, step, counter, pending)
                assert_scheduled_retries_are_allowed(services)
            handle_batch(services, pending)
            assert_scheduled_retries_are_allowed(services)
            services.clock.advance(timedelta(days=40))
            run_actions(services)
            assert gateway.violations == []
        finally:
            services.close()
