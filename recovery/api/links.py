"""The pages customers reach from links in their messages: unsubscribe and accept an offer.

``GET /links/unsubscribe?t=`` shows a confirmation page whose form POSTs back; ``POST
/links/unsubscribe?t=`` unsubscribes (also RFC 8058's one-click POST from the mailbox provider,
body ``List-Unsubscribe=One-Click``). A GET never unsubscribes: mail scanners fetch links.
Unsubscribe tokens may be repeated until they expire (providers retry the POST; unsubscribing
twice changes nothing). ``GET /links/offer?t=`` accepts the offer once through the injected
``accept_offer`` (offer links are single-use). ``GET /links/update-card?t=`` creates a Stripe
billing-portal session (flow ``payment_method_update``) through the injected ``card_update_page``
and redirects to it. A bad, expired or used token answers 400 or 410
with a page saying so, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from recovery.api.errors import status_for
from recovery.errors import LinkRejected, RecoveryError
from recovery.messaging.links import CARD_UPDATE, LINK_PATHS, OFFER, UNSUBSCRIBE, LinkSigner
from recovery.messaging.preferences import unsubscribe
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

log = logging.getLogger("recovery.links")
AcceptOffer = Callable[[str, int], None]
# (account id, Stripe customer id) -> the URL of a new billing-portal session for that customer.
CardUpdatePage = Callable[[str, str], str]


def build_links_router(sessions: SessionFactory, signer: LinkSigner, clock: Clock,
                       accept_offer: AcceptOffer | None = None,
                       card_update_page: CardUpdatePage | None = None) -> APIRouter:
    router = APIRouter(prefix="/links", include_in_schema=False)

    @router.get("/update-card")
    def update_card(t: str = ""):
        """Opens Stripe's billing portal on "update payment method", created now: its sessions
        are short-lived, so the email carries this signed link rather than a session URL."""
        if card_update_page is None:
            return _page("Card update unavailable",
                         "<p>Card updates cannot be opened right now.</p>", status=503)
        try:
            with transaction(sessions) as session:
                payload = signer.open(CARD_UPDATE, t, session=session)
            customer_id = payload.get("customer_id")
            if not isinstance(customer_id, str) or not customer_id:
                raise LinkRejected("invalid", "this link is not valid")
        except LinkRejected as rejected:
            return _rejected_page(rejected)
        try:
            url = card_update_page(payload["account_id"], customer_id)
        except Exception as problem:  # noqa: BLE001 - the customer gets a page, not a 500
            log.error("opening the billing portal failed", extra={
                "account": payload["account_id"],
                "error": f"{type(problem).__name__}: {problem}"[:200]})
            return _page("Card update unavailable", "<p>We could not open the card update "
                         "page right now. Please try the link again later.</p>", status=503)
        return RedirectResponse(url, status_code=303)

    @router.get("/unsubscribe", response_class=HTMLResponse)
    def confirm_unsubscribe(t: str = "") -> HTMLResponse:
        try:
            signer.read(UNSUBSCRIBE, t)
        except LinkRejected as rejected:
            return _rejected_page(rejected)
        action = f"{LINK_PATHS[UNSUBSCRIBE]}?t={escape(t)}"
        return _page("Unsubscribe", "<p>Stop receiving emails about your payments?</p>"
                     f'<form method="post" action="{action}">'
                     '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
                     '<button type="submit">Unsubscribe</button></form>')

    @router.post("/unsubscribe", response_class=HTMLResponse)
    def one_click_unsubscribe(t: str = "") -> HTMLResponse:
        # The body (List-Unsubscribe=One-Click) is not needed: the signed token says who.
        try:
            with transaction(sessions) as session:
                payload = signer.open(UNSUBSCRIBE, t, session=session)
                customer_id = payload.get("customer_id")
                if not isinstance(customer_id, str) or not customer_id:
                    raise LinkRejected("invalid", "this link is not valid")
                unsubscribe(session, payload["account_id"], customer_id, clock.now())
        except LinkRejected as rejected:
            return _rejected_page(rejected)
        log.info("customer unsubscribed", extra={"account": payload["account_id"],
                                                  "customer": customer_id})
        return _page("Unsubscribed", "<p>You will no longer receive these emails.</p>")

    @router.get("/offer", response_class=HTMLResponse)
    def accept(t: str = "") -> HTMLResponse:
        if accept_offer is None:
            return _page("Offer unavailable", "<p>Offers cannot be accepted right now.</p>",
                         status=503)
        try:
            with transaction(sessions) as session:
                payload = signer.open(OFFER, t, session=session)
                offer_id = payload.get("offer_id")
                if not isinstance(offer_id, int):
                    raise LinkRejected("invalid", "this link is not valid")
        except LinkRejected as rejected:
            return _rejected_page(rejected)
        return _accepted(payload["account_id"], offer_id, t)

    def _accepted(account_id: str, offer_id: int, token: str) -> HTMLResponse:
        try:
            accept_offer(account_id, offer_id)
        except Exception as problem:  # noqa: BLE001 - the customer gets a page, not a 500
            # The link was used up before the offer was applied: give it back, so the
            # customer's next click tries again.
            with transaction(sessions) as session:
                signer.release(OFFER, token, session=session)
            status = status_for(problem) if isinstance(problem, RecoveryError) else 503
            log.error("accepting an offer failed", extra={
                "account": account_id, "offer": offer_id,
                "error": f"{type(problem).__name__}: {problem}"[:200]})
            return _page("Offer not applied", "<p>We could not apply this offer right now. "
                         "Please try the link again later.</p>",
                         status=503 if status == 500 else status)
        log.info("offer accepted", extra={"account": account_id, "offer": offer_id})
        return _page("Thank you", "<p>Your offer has been applied to your subscription.</p>")

    return router


def _rejected_page(rejected: LinkRejected) -> HTMLResponse:
    return _page("Link not valid", f"<p>{escape(str(rejected))}.</p>",
                 status=status_for(rejected))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width"><meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{body}</body>"
        "</html>", status_code=status)
