"""Offers in the sandbox: a message's offer reaches the World as an ``offer`` message with its
terms; a customer's ``OfferAccepted`` goes through the same acceptance as a click on the offer's
link (an offer the engine never showed is skipped); ``retries only`` sends no message at all."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from models import ActionKind, ActionStatus, CaseStatus, Message, OfferStatus, RecoveryCase
from models import ScheduledAction as Action
from recovery.messaging.notifier import MessageOffer, compose
from recovery.offers.eligibility import OfferRule
from recovery.offers.records import make_offer
from recovery.sandbox.customers import apply_customer_action
from recovery.sandbox.policies import (
    RETRIES_ONLY,
    comparison_policies,
    engine_default,
    offers_for,
    resolve_policy,
)
from recovery.sandbox.run import Sandbox, SimulationConfig, temporary_workdir
from recovery.sandbox.world.channel import WorldChannel
from recovery.sandbox.world.contract import Offer, OfferAccepted
from tests.recovery import sim_world

WORLD = "tests.recovery.sim_world:make_world"


class Recorder:
    def __init__(self) -> None:
        self.messages = []

    def message(self, message) -> None:
        self.messages.append(message)


class OneCustomer:
    def subscriber_for_customer(self, customer_id: str) -> str | None:
        return "s0" if customer_id == "cus_s0" else None


def test_a_message_with_an_offer_reaches_the_world_as_the_notice_and_the_offer():
    world = Recorder()
    channel = WorldChannel(world, OneCustomer())
    at = datetime(2026, 1, 9, tzinfo=UTC)
    notice = compose("acct", "cus_s0", "in_1", "final_notice", at)
    channel.deliver(notice)
    channel.deliver(replace(notice, offer=MessageOffer("discount", 25, 3, offer_id=7)))

    kinds = [(m.kind, m.offer) for m in world.messages]
    assert kinds == [("final_notice", None), ("final_notice", None),
                     ("offer", Offer(kind="discount", percent_off=25, months=3))]
    assert channel.sent == 2


def open_case_of(sandbox: Sandbox) -> RecoveryCase:
    with sandbox.services.sessions() as session:
        return session.exec(select(RecoveryCase).where(
            RecoveryCase.status == CaseStatus.open.value).order_by(RecoveryCase.id)).first()


def test_a_customers_acceptance_goes_through_the_offer_acceptance(caplog):
    config = SimulationConfig(world=WORLD, subscribers=2, days=2, warmup_days=0, seed=303)
    with temporary_workdir() as workdir:
        sandbox = Sandbox(config, engine_default(), Path(workdir))
        try:
            sandbox.run(until=config.start + timedelta(hours=36))
            case = open_case_of(sandbox)
            subscriber = sandbox.fake.subscriber_for_customer(case.stripe_customer_id)
            at = sandbox.clock.now()
            accepted = OfferAccepted(subscriber, case.stripe_invoice_id, at,
                                     Offer("discount", 25, 3))
            with caplog.at_level(logging.INFO, logger="recovery.sandbox"):
                apply_customer_action(sandbox.fake, accepted, sandbox._accept_offer)
            assert "did not show them" in caplog.text  # no offer was shown: skipped

            with sandbox.services.sessions() as session:
                offer = make_offer(session, session.get(RecoveryCase, case.id),
                                   OfferRule(kind="discount", percent_off=25, months=3), at)
                session.commit()
                offer_id = offer.id
            apply_customer_action(sandbox.fake, accepted, sandbox._accept_offer)

            with sandbox.services.sessions() as session:
                assert session.get(type(offer), offer_id).status == OfferStatus.applied
                apply = session.exec(select(Action).where(
                    Action.kind == ActionKind.apply_offer.value)).one()
                retry = session.exec(select(Action).where(
                    Action.case_id == case.id, Action.kind == ActionKind.retry.value,
                    Action.status == ActionStatus.scheduled.value)).one()
            assert apply.status == ActionStatus.done
            assert "accepted 25% off" in retry.reason
            subscription = sandbox.fake.subscription(case.stripe_subscription_id)
            assert len(subscription["discounts"]) == 1
        finally:
            sandbox.close()


def test_retries_only_sends_no_message_while_the_default_does():
    sent = {}
    for seed, policy in ((304, resolve_policy("retries-only")), (305, engine_default())):
        config = SimulationConfig(world=WORLD, subscribers=2, days=3, warmup_days=0, seed=seed)
        with temporary_workdir() as workdir:
            sandbox = Sandbox(config, policy, Path(workdir))
            try:
                sandbox.run()
                with sandbox.services.sessions() as session:
                    sent[policy.name] = len(session.exec(select(Message)).all())
                    retries = session.exec(select(Action).where(
                        Action.kind == ActionKind.retry.value)).all()
            finally:
                sandbox.close()
        assert retries, "both policies retry"
        assert len(sim_world.CALLS[seed].messages) == sent[policy.name]
    assert sent == {RETRIES_ONLY: 0, "engine default": sent["engine default"]}
    assert sent["engine default"] > 0


def test_compare_lists_retries_only_next_to_the_engine_default():
    names = [p.name for p in comparison_policies()]
    assert names[names.index("engine default") + 1] == RETRIES_ONLY
    assert offers_for(resolve_policy("retries-only")).rules == ()
    assert offers_for(engine_default()).rules  # the default run has offers to make
