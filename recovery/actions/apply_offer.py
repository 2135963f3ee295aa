"""The ``apply_offer`` step: put an accepted offer on the subscription through Stripe, then let the
engine plan what follows (a prompt retry after a discount, a held case during a pause).

A discount is a repeating coupon in the subscription's ``discounts``. A pause is
``pause_collection`` with ``behavior=void`` until ``months`` after the acceptance: the renewals
meanwhile are never billed (what the offer gives up), and the subscription stays active. Stripe
keeps the invoice made before the pause open (https://docs.stripe.com/billing/subscriptions/
pause-payment); the engine does not void it but holds the case and retries it when collection
resumes.

A Stripe failure leaves the offer accepted and the action runner tries again later (the
request's idempotency key is derived from the offer, and renewed with the action's key when
Stripe stored a 5xx under it). A subscription that ended first fails the offer, for good.
"""

from __future__ import annotations

from sqlmodel import Session

from models import ActionStatus, Offer, OfferKind, OfferStatus, RecoveryCase
from recovery.actions.step_context import ClaimedAction, StepContext
from recovery.engine.offer_steps import hold_until, retry_now
from recovery.offers.records import pause_ends_at

PAUSE_BEHAVIOR = "void"  # the paused months are given, not billed later


def offer_key(offer_id: int, action_key: str | None) -> str:
    """``offer:<id>``, with the action key's serial once the runner renewed it (a 5xx that
    Stripe stored under the first key is replayed for it for a day)."""
    parts = (action_key or "").split(":")
    return f"offer:{offer_id}" + (f":{parts[2]}" if len(parts) > 2 else "")


def run_apply_offer(ctx: StepContext, claimed: ClaimedAction) -> None:
    offer_id = (claimed.action.params or {}).get("offer_id")
    with ctx.sessions() as session:
        offer = session.get(Offer, offer_id) if offer_id is not None else None
    if offer is None or offer.status != OfferStatus.accepted.value:
        status = offer.status if offer is not None else "missing"
        ctx.finish(claimed, {"skipped": f"offer {status}"}, ActionStatus.canceled)
        return
    account = ctx.stripe_account(claimed.case)
    subscription = ctx.gateway.retrieve_subscription(offer.stripe_subscription_id,
                                                     stripe_account=account)
    if subscription.ended:
        _fail(ctx, claimed, offer, f"subscription {subscription.status}")
        return
    key = offer_key(offer.id, claimed.action.idempotency_key)
    result: dict = {"offer": offer.id, "kind": offer.kind}
    if offer.kind == OfferKind.discount.value:
        result["coupon"] = ctx.gateway.apply_discount(
            offer.stripe_subscription_id, offer.percent_off, offer.months,
            idempotency_key=key, stripe_account=account)
    else:
        resumes_at = pause_ends_at(offer)
        ctx.gateway.pause_collection(offer.stripe_subscription_id, PAUSE_BEHAVIOR, resumes_at,
                                     idempotency_key=key, stripe_account=account)
        result["resumes_at"] = resumes_at.isoformat()
    with ctx.finishing(claimed, result) as session:
        _applied(ctx, session, offer.id, claimed.case.id, result.get("coupon"))


def _applied(ctx: StepContext, session: Session, offer_id: int, case_id: int,
             coupon_id: str | None) -> None:
    now = ctx.clock.now()
    offer = session.get(Offer, offer_id, with_for_update=True, populate_existing=True)
    offer.status, offer.applied_at, offer.coupon_id = OfferStatus.applied.value, now, coupon_id
    case = session.get(RecoveryCase, case_id)
    planner = ctx.engine.planner
    if offer.kind == OfferKind.discount.value:
        retry_now(session, planner, case, f"retry at once: the customer accepted "
                                          f"{offer.percent_off}% off for {offer.months} months")
    else:
        until = pause_ends_at(offer)
        hold_until(session, planner, case, until,
                   f"collection paused for {offer.months} months by the customer's offer: "
                   f"retry when it resumes ({until:%Y-%m-%d})")


def _fail(ctx: StepContext, claimed: ClaimedAction, offer: Offer, why: str) -> None:
    with ctx.finishing(claimed, {"offer": offer.id, "failed": why},
                       ActionStatus.canceled) as session:
        row = session.get(Offer, offer.id, with_for_update=True, populate_existing=True)
        row.status, row.error = OfferStatus.failed.value, why
