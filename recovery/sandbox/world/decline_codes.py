"""The Stripe fields of each simulated decline: error code, decline code, advice and network codes.

Raw issuer codes follow the Visa/ISO 8583 response codes acquirers publish (51 insufficient funds,
05 do not honor, 54 expired, 41/43 lost/stolen, 04 pick up, 59 suspected fraud, 62 restricted,
14 invalid account, 61/65 amount/count limits, 91 issuer unavailable, 1A authentication, R1
revocation). Mastercard merchant advice codes (Braintree, Antom and Solidgate documentation):
01 new account information, 02 try later, 03 do not try again, 21 recurring payment cancelled,
24-30 retry after 1 h, 24 h, 2, 4, 6, 8, 10 days (the NSF Authorization Optimizer on code 51).
"""

from __future__ import annotations

from datetime import datetime

from recovery.sandbox.world.contract import Card, ChargeResult

PAID = ChargeResult(paid=True)

_RAW = {
    "insufficient_funds": "51", "do_not_honor": "05", "generic_decline": "05",
    "expired_card": "54", "lost_card": "41", "stolen_card": "43", "pickup_card": "04",
    "fraudulent": "59", "restricted_card": "62", "invalid_account": "14",
    "issuer_not_available": "91",
}
# Mastercard NSF optimizer: the wait each advice code asks for, in hours.
_RETRY_AFTER = (("24", 1), ("25", 24), ("26", 48), ("27", 96), ("28", 144), ("29", 192),
                ("30", 240))


def _declined(card: Card, decline_code: str | None, advice: str | None, raw: str | None,
              mac: str | None = None, failure_code: str = "card_declined") -> ChargeResult:
    # Stripe passes raw codes through for Visa, Mastercard and Discover; Amex answers with its
    # own scheme, left empty here.
    return ChargeResult(
        paid=False, failure_code=failure_code, decline_code=decline_code, advice_code=advice,
        network_decline_code=None if card.brand == "amex" else raw,
        network_advice_code=mac if card.brand == "mastercard" else None,
    )


def processing_error() -> ChargeResult:
    return ChargeResult(paid=False, failure_code="processing_error")


def expired(card: Card, has_new_card: bool) -> ChargeResult:
    # MAC 01: the issuer holds newer credentials for this account (the renewed card).
    return _declined(card, "expired_card", "confirm_card_data", "54",
                     "01" if has_new_card else "03", failure_code="expired_card")


def hard(card: Card, code: str, updater: bool) -> ChargeResult:
    if code == "revocation_of_authorization":
        raw = "R1" if card.brand == "visa" else "05"
        return _declined(card, code, "do_not_try_again", raw, "21")
    return _declined(card, code, "do_not_try_again", _RAW.get(code, "05"),
                     "01" if updater else "03")


def auth_required(card: Card) -> ChargeResult:
    # Visa answers 1A and Mastercard 65 when an issuer wants strong customer authentication.
    raw = "1A" if card.brand == "visa" else "65"
    return _declined(card, "authentication_required", None, raw,
                     failure_code="authentication_required")


def issuer_unavailable(card: Card) -> ChargeResult:
    return _declined(card, "issuer_not_available", "try_again_later", "91")


def velocity(card: Card) -> ChargeResult:
    # Too many attempts on the card within a day: the issuer's count limit (65).
    return _declined(card, "card_velocity_exceeded", "try_again_later", "65")


def short_of_funds(card: Card, at: datetime, funds_back: datetime,
                   over_limit: bool) -> ChargeResult:
    if over_limit:
        # A credit card over its limit: 61, exceeds amount limit.
        return _declined(card, "card_velocity_exceeded", "try_again_later", "61")
    return _declined(card, "insufficient_funds", "try_again_later", "51",
                     retry_after_code((funds_back - at).total_seconds() / 3600))


def risk_decline(card: Card, code: str, mac: str | None) -> ChargeResult:
    advice = "do_not_try_again" if mac == "03" else "try_again_later"
    return _declined(card, code, advice, _RAW[code], mac)


def retry_after_code(hours_to_funds: float) -> str:
    """The shortest Mastercard retry-after code whose wait reaches the customer's next payday."""
    for code, wait in _RETRY_AFTER:
        if wait >= hours_to_funds:
            return code
    return _RETRY_AFTER[-1][0]
