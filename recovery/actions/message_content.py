"""What a customer message says and where it goes, put together when it is written.

Stripe is read first, outside any transaction (``read_recipient``): the customer's address, name
and preferred locales, and the card on file (brand, last4 and expiry are all a message may show).
Inside the sending transaction, ``MessageContent.for_case`` (or ``for_card``, the pre-dunning
card-expiring notice) adds the account's branding, the amounts and dates, the links and the
offer, and renders the message in the customer's language (``messaging.rendering``).

Links: paying or authenticating opens the invoice's hosted page; updating the card opens a
signed link of ours that creates a Stripe billing-portal session when it is clicked (portal
sessions are short-lived; an email may be read days later); unsubscribing and accepting an
offer are signed links too. Without a link signer (a real Stripe key and no link secret) a
message carries only the hosted invoice page.

The message is kept whole in its row (``message`` table), so a re-send sends exactly this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlmodel import Session

from models import Account, Offer, RecoveryCase
from recovery.errors import GatewayError, GatewayUnavailable, PolicyError
from recovery.messaging.branding import Branding
from recovery.messaging.links import LinkSigner, card_update_url, offer_url, unsubscribe_url
from recovery.messaging.notifier import MessageOffer, OutgoingMessage, compose
from recovery.messaging.rendering import MessageContext, OfferView, render
from recovery.offers.eligibility import OffersPolicy
from recovery.stripe_api.results import CustomerContact
from webhooks.facts import CardInfo

log = logging.getLogger("recovery.actions")
# The messages that ask the customer to act on their card carry the card-update link.
CARD_UPDATE_KINDS = frozenset({"payment_failed", "card_update_request", "reminder",
                               "final_notice", "card_expiring"})


@dataclass(frozen=True)
class Recipient:
    """What Stripe says about the customer and their card, read before the transaction."""

    contact: CustomerContact | None = None
    card: CardInfo | None = None


@dataclass(frozen=True)
class MessageSetup:
    """What the composition root decides about every message."""

    signer: LinkSigner | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    # The sandbox compares policies: its offers policy stands in for the account's.
    offers_override: OffersPolicy | None = None
    # Sends what the account's branding does not send itself (its address is the one to write to).
    mail_from: str | None = None


def read_recipient(gateway, customer_id: str | None, payment_method_id: str | None,
                   stripe_account: str | None) -> Recipient:
    """Stripe's view of the customer and card; an object Stripe no longer has is left out
    (the message goes without it), while Stripe being unavailable raises, so the step is
    tried again later."""
    contact = card = None
    try:
        if customer_id:
            contact = gateway.customer_contact(customer_id, stripe_account=stripe_account)
        if payment_method_id:
            card = gateway.payment_method_card(payment_method_id, stripe_account=stripe_account)
    except GatewayUnavailable:
        raise
    except GatewayError as problem:
        log.warning("message written without what Stripe could not give",
                    extra={"customer": customer_id, "error": str(problem)[:200]})
    return Recipient(contact, card)


@dataclass(frozen=True)
class MessageContent:
    setup: MessageSetup
    # (session, account id) -> the account's retry policy window in days, for the final notice.
    window_days_of: Callable[[Session, str], int]

    def for_case(self, session: Session, case: RecoveryCase, kind: str, now: datetime,
                 message_id: str, recipient: Recipient, offer: Offer | None = None
                 ) -> OutgoingMessage:
        card = recipient.card
        window_end = case.first_failed_at + timedelta(
            days=self.window_days_of(session, case.account_id))
        context = MessageContext(
            kind=kind, customer_name=_name(recipient), amount=max(case.amount_due or 0, 0),
            currency=case.currency or "usd", invoice_date=case.first_failed_at,
            ends_at=window_end if kind == "final_notice" else None,
            card_brand=(card.brand if card else None) or case.card_brand,
            card_last4=card.last4 if card else None, card_exp=_expiry(card),
            pay_url=case.hosted_invoice_url,
            update_card_url=self._card_update_link(case.account_id, case.stripe_customer_id, kind),
            unsubscribe_url=self._unsubscribe_link(case.account_id, case.stripe_customer_id),
            offer=self._offer_view(case.account_id, offer),
            timezone=case.customer_timezone,
            paid_at=now if kind == "payment_recovered" else None)
        return self._rendered(session, case.account_id, case.stripe_customer_id,
                              case.stripe_invoice_id, context, now, message_id, recipient,
                              link=case.hosted_invoice_url, offer=offer)

    def for_card(self, session: Session, account_id: str, customer_id: str, card: CardInfo,
                 timezone: str, at: datetime, message_id: str,
                 recipient: Recipient) -> OutgoingMessage:
        """The pre-dunning notice for a card on file about to expire (no case, no amount)."""
        context = MessageContext(
            kind="card_expiring", customer_name=_name(recipient), amount=0, currency="usd",
            card_brand=card.brand, card_last4=card.last4, card_exp=_expiry(card),
            update_card_url=self._card_update_link(account_id, customer_id, "card_expiring"),
            unsubscribe_url=self._unsubscribe_link(account_id, customer_id), timezone=timezone)
        return self._rendered(session, account_id, customer_id, None, context, at, message_id,
                              recipient)

    def _rendered(self, session: Session, account_id: str, customer_id: str | None,
                  invoice_id: str | None, context: MessageContext, now: datetime,
                  message_id: str, recipient: Recipient, *, link: str | None = None,
                  offer: Offer | None = None) -> OutgoingMessage:
        account = session.get(Account, account_id)
        branding, own_sender = _branding(account, self.setup.mail_from)
        contact = recipient.contact
        try:
            rendered = render(context, branding, contact.preferred_locales if contact else None)
        except ValueError as problem:
            # Data the templates cannot show (an odd currency, a malformed link) must not stop
            # the customer hearing from us: the plain message goes instead, and the log says why.
            log.error("message could not be rendered; sending the plain version",
                      extra={"account": account_id, "kind": context.kind,
                             "error": str(problem)[:200]})
            return compose(account_id, customer_id, invoice_id, context.kind, now, link=link,
                           message_id=message_id)
        return OutgoingMessage(
            account_id=account_id, customer_id=customer_id, invoice_id=invoice_id,
            kind=context.kind, channel="email", subject=rendered.subject, sent_at=now,
            link=link, message_id=message_id,
            to_address=contact.email if contact and not contact.deleted else None,
            text=rendered.text, html=rendered.html, locale=rendered.locale,
            unsubscribe_url=context.unsubscribe_url,
            reply_to=branding.reply_to, sender=branding.sender if own_sender else None,
            offer=MessageOffer(offer.kind, offer.percent_off, offer.months, offer.id)
            if offer is not None and context.offer is not None else None)

    # --- links -----------------------------------------------------------------------------

    def _card_update_link(self, account_id: str, customer_id: str | None,
                          kind: str) -> str | None:
        signer = self.setup.signer
        if signer is None or not customer_id or kind not in CARD_UPDATE_KINDS:
            return None
        return card_update_url(signer, self.setup.public_base_url, account_id, customer_id)

    def _unsubscribe_link(self, account_id: str, customer_id: str | None) -> str | None:
        signer = self.setup.signer
        if signer is None or not customer_id:
            return None
        return unsubscribe_url(signer, self.setup.public_base_url, account_id, customer_id)

    def _offer_view(self, account_id: str, offer: Offer | None) -> OfferView | None:
        signer = self.setup.signer
        if offer is None or signer is None or offer.id is None:
            return None  # an offer nobody could accept is not shown
        return OfferView(kind=offer.kind, percent_off=offer.percent_off, months=offer.months,
                         accept_url=offer_url(signer, self.setup.public_base_url, account_id,
                                              offer.id))


def _name(recipient: Recipient) -> str | None:
    contact = recipient.contact
    return contact.name if contact and not contact.deleted else None


def _expiry(card: CardInfo | None) -> tuple[int, int] | None:
    if card is None or not card.exp_month or not card.exp_year:
        return None
    return card.exp_month, card.exp_year


def _branding(account: Account | None, mail_from: str | None) -> tuple[Branding, bool]:
    """The account's branding (its name by default), and whether it names its own sender (else
    the configured ``mail_from`` sends, and is the address shown). A broken stored branding is
    logged, not fatal."""
    policy = (account.policy if account is not None else None) or {}
    stored = policy.get("branding") if isinstance(policy, dict) else None
    data = dict(stored) if isinstance(stored, dict) else {}
    own_sender = "sender" in data
    if account is not None and account.name and "name" not in data:
        data["name"] = account.name
    if not own_sender and mail_from and parseaddr(mail_from)[1]:
        data["sender"] = parseaddr(mail_from)[1]
    try:
        return Branding.from_mapping(data), own_sender
    except PolicyError as problem:
        log.error("the account's branding is invalid; the default is used",
                  extra={"account": account.id if account else None, "error": str(problem)})
        return Branding(), False
