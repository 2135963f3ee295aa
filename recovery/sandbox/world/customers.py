"""How simulated customers behave: card lifecycles, answers to messages and declines, churn.

Every choice is a keyed draw on (seed, subscriber, what happened, when), so a customer's reaction
depends on their own story only. Plans go to the ActionQueue, which re-checks them on release.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from recovery.sandbox.world.action_queue import ActionQueue
from recovery.sandbox.world.contract import (
    Cancelled,
    CardUpdated,
    ChargeResult,
    Message,
    OfferAccepted,
    PaidOnSession,
)
from recovery.sandbox.world.funds import FundsCalendar
from recovery.sandbox.world.keyed_random import lognormal_hours, pick, unit
from recovery.sandbox.world.params import WorldParams
from recovery.sandbox.world.paydays import zone
from recovery.sandbox.world.population import (
    Profile,
    renewed_card,
    switched_card,
)

DUNNING = ("payment_failed", "card_update_request", "authentication_required", "final_notice")
HORIZON = timedelta(days=730)  # lifecycle events further out than this are never planned
REISSUE_CODES = (("lost_card", 0.30), ("stolen_card", 0.20), ("pickup_card", 0.10),
                 ("invalid_account", 0.25), ("restricted_card", 0.15))
WAKING = (8, 22)  # local hours in which people act on email


def classify(result: ChargeResult) -> str:
    """What the customer would have to fix: funds | card | auth | issuer."""
    code = result.decline_code
    if code == "insufficient_funds" or result.network_decline_code == "61":
        return "funds"
    if result.failure_code == "authentication_required":
        return "auth"
    if code == "expired_card" or result.advice_code == "do_not_try_again":
        return "card"
    return "issuer"


class Customers:
    def __init__(self, seed: int, params: WorldParams, queue: ActionQueue,
                 funds: FundsCalendar) -> None:
        self._seed = seed
        self._params = params
        self._how = params.behaviour
        self._queue = queue
        self._funds = funds
        self._noticed: set[tuple[str, str]] = set()

    def plan_lifecycle(self, profile: Profile, start: datetime) -> None:
        """Voluntary churn, card expiry and card reissue, known from the start."""
        self._plan_churn(profile, start)
        self._plan_expiry(profile, start)
        self._plan_reissue(profile, start)

    def after_charge(self, profile: Profile, invoice_id: str, result: ChargeResult,
                     at: datetime) -> None:
        if result.paid:
            if profile.open_invoice == invoice_id:
                profile.open_invoice, profile.problem, profile.dunning_messages = None, None, 0
            return
        profile.open_invoice, profile.problem = invoice_id, classify(result)
        if profile.problem == "card":
            self._notice_dead_card(profile, result, at)

    def on_message(self, profile: Profile, message: Message) -> None:
        if profile.cancelled:
            return
        if message.kind == "offer":
            self._consider_offer(profile, message)
            return
        if message.kind in DUNNING:
            profile.dunning_messages += 1
        if message.kind == "card_expiring":
            self._consider_renewal(profile, message)
        elif message.kind in DUNNING and profile.open_invoice is not None:
            self._react_to_dunning(profile, message)
            self._consider_leaving(profile, message)

    # -- lifecycle -------------------------------------------------------------------------

    def _plan_churn(self, profile: Profile, start: datetime) -> None:
        u = unit(self._seed, "churn", profile.subscriber.id)
        days = -math.log(1.0 - u) * 30.0 / profile.churn_per_month
        if days < HORIZON.days:
            at = self._waking(profile, start + timedelta(days=days), "churn")
            self._queue.plan(profile, Cancelled(profile.subscriber.id, at))

    def _plan_expiry(self, profile: Profile, start: datetime) -> None:
        state, sub_id = profile.card, profile.subscriber.id
        if state.expires_at - start > HORIZON:
            return
        if unit(self._seed, "updater", state.card.fingerprint) >= profile.market.updater_coverage:
            return
        # Issuers mail renewals weeks ahead; the updater has the new expiry once it is active.
        lead = timedelta(days=5 + 35 * unit(self._seed, "updater-lead", sub_id))
        at = max(state.expires_at - lead, start + timedelta(hours=1))
        same = unit(self._seed, "updater-same", sub_id) < 0.85  # usually only the expiry changes
        new = renewed_card(self._seed, profile, state, at, same_number=same)
        self._queue.plan(profile, CardUpdated(sub_id, at, new.card, automatic=True),
                         new_card=new, replaces=state)

    def _plan_reissue(self, profile: Profile, start: datetime) -> None:
        state, sub_id = profile.card, profile.subscriber.id
        rate = self._params.declines.reissue_per_year / 365.0
        days = -math.log(1.0 - unit(self._seed, "reissue", sub_id)) / rate
        if days >= HORIZON.days or start + timedelta(days=days) >= state.expires_at:
            return
        state.dead_at = start + timedelta(days=days)
        state.dead_code = pick(unit(self._seed, "reissue-code", sub_id), REISSUE_CODES)
        # Same account, new number: the issuer's replacement keeps brand, funding and balance.
        new = renewed_card(self._seed, profile, state, state.dead_at, same_number=False)
        delay = timedelta(days=1 + 6 * unit(self._seed, "reissue-delay", sub_id))
        if unit(self._seed, "updater", state.card.fingerprint) < profile.market.updater_coverage:
            state.successor_known = True
            at = state.dead_at + delay
            self._queue.plan(profile, CardUpdated(sub_id, at, new.card, automatic=True),
                             new_card=new, replaces=state)
        elif unit(self._seed, "reissue-self", sub_id) < 0.35:
            # The customer holds the new card and re-enters it where they remember to.
            at = self._waking(profile, state.dead_at + delay * 3, "reissue-self")
            self._queue.plan(profile, CardUpdated(sub_id, at, new.card, automatic=False),
                             new_card=new)

    # -- reactions ---------------------------------------------------------------------------

    def _notice_dead_card(self, profile: Profile, result: ChargeResult, at: datetime) -> None:
        key = (profile.subscriber.id, profile.card.card.fingerprint)
        if key in self._noticed:
            return
        self._noticed.add(key)
        sub_id = profile.subscriber.id
        if result.decline_code == "revocation_of_authorization" and unit(
                self._seed, "revoked-leaves", sub_id, at.isoformat()) < 0.6:
            # They told their bank to stop paying us: most of them meant to leave.
            when = at + timedelta(days=1 + 4 * unit(self._seed, "revoked-when", sub_id))
            self._queue.plan(profile, Cancelled(sub_id, self._waking(profile, when, "revoked")))
            return
        if unit(self._seed, "spontaneous", *key) < self._how.spontaneous_fix:
            when = at + timedelta(days=2 + 12 * unit(self._seed, "spontaneous-when", *key))
            self._plan_switch(profile, self._waking(profile, when, "spontaneous"))

    def _react_to_dunning(self, profile: Profile, message: Message) -> None:
        if profile.fix_pending:
            return
        fix, pay = self._chances(profile, message.kind, message.sent_at)
        u = unit(self._seed, "react", profile.subscriber.id, message.kind, message.sent_at)
        invoice = message.invoice_id or profile.open_invoice
        if u < fix:
            self._plan_switch(profile, self._reaction_time(profile, message))
        elif u < fix + pay and invoice is not None:
            self._plan_payment(profile, invoice, message)

    def _chances(self, profile: Profile, kind: str, at: datetime) -> tuple[float, float]:
        how = self._how
        fatigue = self._fatigue(profile.dunning_messages)
        if kind == "final_notice":
            fatigue = max(fatigue, 0.6)  # the last warning gets a last burst of attention
        fix, pay = dict(how.fix).get(kind, 0.0), dict(how.pay).get(kind, 0.0)
        if profile.problem == "auth":
            complete = how.auth_complete
            if kind != "authentication_required":
                complete /= 2  # a generic failure email points to the page less directly
            return 0.0, complete * fatigue
        if profile.problem == "funds":
            if FundsCalendar.abandoned(profile.card, at):
                # They know they moved banks: a reminder is all it takes to give the new card.
                return fix * fatigue, pay * fatigue
            return how.funds_fix * fatigue, (pay + 0.05) * fatigue
        if profile.problem == "issuer":
            return 0.4 * fix * fatigue, pay * fatigue
        return fix * fatigue, pay * fatigue

    def _fatigue(self, messages: int) -> float:
        return self._how.fatigue ** max(0, messages - 2)

    def _plan_payment(self, profile: Profile, invoice_id: str, message: Message) -> None:
        at = self._reaction_time(profile, message)
        # The hosted page charges the same account: they can only pay once it has the money,
        # which may be the next wages, or after weeks without income, or not in sight at all.
        state = profile.card
        funds = self._funds.solvent_from(profile, state, profile.subscriber.amount, at)
        if funds is None:
            return
        if funds > at:
            at = self._waking(profile, funds, "pay-after-payday")
        action = PaidOnSession(profile.subscriber.id, invoice_id, at)
        profile.fix_pending = True
        self._queue.plan(profile, action, reaction=True)

    def _plan_switch(self, profile: Profile, at: datetime) -> None:
        new = switched_card(self._seed, profile, at, self._params)
        profile.fix_pending = True
        self._queue.plan(profile, CardUpdated(profile.subscriber.id, at, new.card, False),
                         new_card=new, reaction=True)

    def _consider_renewal(self, profile: Profile, message: Message) -> None:
        state = profile.card
        if profile.fix_pending or state.expires_at - message.sent_at > timedelta(days=60):
            return
        chance = dict(self._how.fix).get("card_expiring", 0.0)
        if unit(self._seed, "renew", profile.subscriber.id, message.sent_at) >= chance:
            return
        at = self._reaction_time(profile, message)
        same = unit(self._seed, "renew-same", profile.subscriber.id, message.sent_at) < 0.6
        new = renewed_card(self._seed, profile, state, at, same_number=same)
        profile.fix_pending = True
        self._queue.plan(profile, CardUpdated(profile.subscriber.id, at, new.card, False),
                         new_card=new, replaces=state, reaction=True)

    def _consider_offer(self, profile: Profile, message: Message) -> None:
        offer, how = message.offer, self._how
        if offer is None:
            return
        if offer.kind == "pause":
            chance = how.offer_pause
        else:
            chance = how.offer_discount_base + how.offer_discount_per_percent * offer.percent_off
        if profile.open_invoice is not None or profile.dunning_messages >= 2:
            chance *= how.at_risk_offer_factor
        if unit(self._seed, "offer", profile.subscriber.id, message.sent_at) < chance:
            at = self._reaction_time(profile, message)
            self._queue.plan(profile, OfferAccepted(profile.subscriber.id, message.invoice_id, at,
                                                    offer))

    def _consider_leaving(self, profile: Profile, message: Message) -> None:
        extra = self._how.fatigue_churn * max(0, profile.dunning_messages - 2)
        if message.kind == "final_notice":
            extra += 0.05
        if unit(self._seed, "leave", profile.subscriber.id, message.sent_at) < extra:
            at = self._reaction_time(profile, message)
            self._queue.plan(profile, Cancelled(profile.subscriber.id, at))

    # -- timing ------------------------------------------------------------------------------

    def _reaction_time(self, profile: Profile, message: Message) -> datetime:
        median = self._how.reaction_median_hours
        if message.kind in ("authentication_required", "final_notice"):
            median /= 2
        u = unit(self._seed, "delay", profile.subscriber.id, message.kind, message.sent_at)
        at = message.sent_at + timedelta(hours=lognormal_hours(u, median, 0.9))
        return self._waking(profile, at, message.kind)

    def _waking(self, profile: Profile, at: datetime, why: str) -> datetime:
        """``at``, or the start of the customer's next waking hours (plus a little) if asleep."""
        local = at.astimezone(zone(profile.subscriber.timezone))
        if WAKING[0] <= local.hour < WAKING[1]:
            return at
        day = local.date() + timedelta(days=1 if local.hour >= WAKING[1] else 0)
        spread = timedelta(hours=3 * unit(self._seed, "wake", profile.subscriber.id, why, at))
        morning = datetime(day.year, day.month, day.day, WAKING[0], tzinfo=local.tzinfo)
        return (morning + spread).astimezone(at.tzinfo)

