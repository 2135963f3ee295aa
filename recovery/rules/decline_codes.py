"""Decline code tables: what each Stripe decline field value means for the engine.

Pure data, keyed by advice code, Mastercard advice code, decline code or outcome reason, failure
code, outcome type and Visa raw code; the classifier (``declines``) decides which table speaks.
Source of every table: shared/reference/stripe-and-card-networks.md, sections 1 and 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

# RETRY-L codes are soft but weak: the reference (section 1.3) advises at most about 2-3 attempts
# before asking for a new payment method.
RETRY_LIMITED_MAX_ATTEMPTS = 3


class DeclineClass(StrEnum):
    RETRY = "retry"  # soft decline: retry within the network budget
    RETRY_LIMITED = "retry_limited"  # soft but weak: a few attempts, then ask for a new card
    NEW_PAYMENT_METHOD = "new_payment_method"  # needs new or corrected card details
    STOP = "stop"  # never retry this card
    AUTHENTICATION = "authentication"  # the customer must authenticate; off-session is pointless
    RECONCILE = "reconcile"  # check our side first (already paid? amount? request?)


@dataclass(frozen=True)
class Classification:
    """What one decline means for the engine, and which field of the decline decided it."""

    decline_class: DeclineClass
    code: str | None
    source: str
    reason: str
    card_blocked: bool = False
    min_wait: timedelta | None = None
    blocks_window: bool = False
    visa_category: int | None = None
    max_attempts: int | None = None
    notify_customer: bool = False


@dataclass(frozen=True)
class DeclineRule:
    decline_class: DeclineClass
    reason: str
    card_blocked: bool = False
    notify: bool | None = None  # None: the class default (NOTIFY_BY_CLASS)
    min_wait: timedelta | None = None
    blocks_window: bool = False


@dataclass(frozen=True)
class RuleMatch:
    rule: DeclineRule
    code: str | None
    source: str


def _retry(reason: str, min_wait: timedelta | None = None) -> DeclineRule:
    return DeclineRule(DeclineClass.RETRY, reason, min_wait=min_wait)


def _limited(reason: str, notify: bool | None = None) -> DeclineRule:
    return DeclineRule(DeclineClass.RETRY_LIMITED, reason, notify=notify)


def _new_pm(reason: str, blocks_window: bool = False) -> DeclineRule:
    return DeclineRule(DeclineClass.NEW_PAYMENT_METHOD, reason, blocks_window=blocks_window)


def stop_rule(reason: str, notify: bool | None = None) -> DeclineRule:
    # A STOP is by definition a card the issuer or network will not approve again.
    return DeclineRule(DeclineClass.STOP, reason, card_blocked=True, notify=notify)


def _auth(reason: str) -> DeclineRule:
    return DeclineRule(DeclineClass.AUTHENTICATION, reason)


def _reconcile(reason: str) -> DeclineRule:
    return DeclineRule(DeclineClass.RECONCILE, reason)


# Whether the customer hears about a decline of this class. They must act for a new card, fixed
# details or 3-D Secure; a plain soft decline is worth a "your payment failed" note while the
# engine retries; weak soft declines are retried quietly (their exhaustion asks for a new card)
# and reconcile cases are the operator's to handle.
NOTIFY_BY_CLASS = {
    DeclineClass.RETRY: True,
    DeclineClass.RETRY_LIMITED: False,
    DeclineClass.NEW_PAYMENT_METHOD: True,
    DeclineClass.STOP: True,
    DeclineClass.AUTHENTICATION: True,
    DeclineClass.RECONCILE: False,
}

# Stripe advice codes (reference 1.2): the issuer's instruction for this very attempt.
ADVICE_CODE_RULES: Mapping[str, DeclineRule] = {
    "do_not_try_again": stop_rule("issuer says do not try again"),
    "confirm_card_data": _new_pm("issuer asks the customer to confirm the card details"),
    "try_again_later": _retry("issuer says try again later"),
}

# Mastercard Merchant Advice Codes (reference 2, MAC table). A retry after MAC 03 or 21 is a
# per-attempt fee under Mastercard's Transaction Processing Excellence programme.
MAC_RULES: Mapping[str, DeclineRule] = {
    "01": _new_pm("new account information available (Mastercard MAC 01)"),
    "02": _retry("cannot approve now, try later (Mastercard MAC 02)", timedelta(hours=72)),
    "03": stop_rule("do not try again (Mastercard MAC 03)"),
    "04": _reconcile("token requirements not met (Mastercard MAC 04): fix the request"),
    "21": stop_rule("cardholder cancelled recurring payments (Mastercard MAC 21)"),
    "24": _retry("retry after 1 hour (Mastercard MAC 24)", timedelta(hours=1)),
    "25": _retry("retry after 24 hours (Mastercard MAC 25)", timedelta(hours=24)),
    "26": _retry("retry after 2 days (Mastercard MAC 26)", timedelta(days=2)),
    "27": _retry("retry after 4 days (Mastercard MAC 27)", timedelta(days=4)),
    "28": _retry("retry after 6 days (Mastercard MAC 28)", timedelta(days=6)),
    "29": _retry("retry after 8 days (Mastercard MAC 29)", timedelta(days=8)),
    "30": _retry("retry after 10 days (Mastercard MAC 30)", timedelta(days=10)),
    "40": _new_pm("non-reloadable prepaid card cannot pay recurring charges (Mastercard MAC 40)"),
    "41": _new_pm("single-use virtual card cannot pay recurring charges (Mastercard MAC 41)"),
}
# MAC 43 (multi-use virtual card) only says what kind of card it is; it is fine for recurring
# use, so the issuer's decline code decides instead.
MAC_INFORMATIONAL = frozenset({"43"})

_PIN_ONLY = "PIN problem (card-present only; cannot be fixed off-session)"

# Stripe card decline codes (reference 1.3, all 50 codes).
DECLINE_CODE_RULES: Mapping[str, DeclineRule] = {
    "authentication_required": _auth("issuer requires authentication (3-D Secure)"),
    "authentication_not_handled": _auth("authentication was required but not completed"),
    "mobile_device_authentication_required": _auth("on-device authentication required"),
    "approve_with_id": _retry("issuer could not authorize this time"),
    "call_issuer": _limited("issuer asks the cardholder to call the bank", notify=True),
    "card_not_supported": _new_pm("card does not support this kind of purchase"),
    "card_velocity_exceeded": _retry("card balance, credit or amount limit reached"),
    "currency_not_supported": _new_pm("card cannot pay in this currency"),
    "do_not_honor": _limited("issuer refused without a reason (do not honor)"),
    "do_not_try_again": stop_rule("issuer says do not try again"),
    "duplicate_transaction": _reconcile("identical charge submitted very recently"),
    "expired_card": _new_pm("card expired"),
    "fraudulent": stop_rule("payment suspected fraudulent"),
    "generic_decline": _limited("issuer refused without a reason (generic decline)"),
    "incorrect_address": _new_pm("billing address does not match"),
    "incorrect_cvc": _new_pm("security code (CVC) incorrect"),
    "invalid_cvc": _new_pm("security code (CVC) invalid"),
    "incorrect_number": _new_pm("card number incorrect"),
    "invalid_number": _new_pm("card number invalid"),
    "incorrect_zip": _new_pm("postal code does not match"),
    "insufficient_funds": _retry("insufficient funds"),
    "invalid_account": stop_rule("card or account invalid (for example closed)"),
    "invalid_amount": _reconcile("amount invalid or above an allowed limit"),
    "invalid_expiry_month": _new_pm("expiry month invalid"),
    "invalid_expiry_year": _new_pm("expiry year invalid"),
    "issuer_not_available": _retry("issuer could not be reached"),
    "lost_card": stop_rule("card reported lost"),
    "merchant_blacklist": stop_rule("card matches the account's block list", notify=False),
    "new_account_information_available": _new_pm("card or account replaced"),
    "no_action_taken": _limited("issuer refused without a reason (no action taken)"),
    "not_permitted": _new_pm("payment not permitted on this card"),
    "pickup_card": stop_rule("issuer asks to pick up the card"),
    "processing_error": _retry("error while processing the card"),
    "reenter_transaction": _retry("issuer failed to process the payment"),
    "restricted_card": stop_rule("card restricted"),
    "revocation_of_all_authorizations": stop_rule("cardholder revoked all recurring payments"),
    "revocation_of_authorization": stop_rule("cardholder revoked this recurring payment"),
    "security_violation": stop_rule("issuer reported a security violation"),
    "service_not_allowed": _new_pm("issuer does not allow this service on the card"),
    "stolen_card": stop_rule("card reported stolen"),
    "stop_payment_order": stop_rule("cardholder placed a stop-payment order"),
    "testmode_decline": stop_rule("a Stripe test card was used (integration bug)", notify=False),
    "transaction_not_allowed": _new_pm("transaction not allowed on this card"),
    "try_again_later": _retry("issuer says try again later"),
    "withdrawal_count_limit_exceeded": _retry("card balance or credit limit exceeded"),
    # Terminal-only PIN codes cannot arise on an off-session charge; if one does, the card on
    # file cannot be fixed by the engine, so ask for another.
    "incorrect_pin": _new_pm(_PIN_ONLY),
    "invalid_pin": _new_pm(_PIN_ONLY),
    "pin_try_exceeded": _new_pm(_PIN_ONLY),
    "offline_pin_required": _new_pm(_PIN_ONLY),
    "online_or_offline_pin_required": _new_pm(_PIN_ONLY),
}

DECLINE_CODE_CLASSES: Mapping[str, DeclineClass] = MappingProxyType(
    {code: rule.decline_class for code, rule in DECLINE_CODE_RULES.items()}
)

# Stripe's window-wide block after excessive retries: support.stripe.com/questions/
# payment-blocked-due-to-excessive-retries. Reattempting inside the 30 days only gets blocked again.
_EXCESSIVE_RETRIES = _new_pm(
    "Stripe blocked further retries on this card (excessive retries)", blocks_window=True
)

# outcome.reason values that are Stripe or Radar verdicts rather than issuer codes (reference 1.3).
OUTCOME_REASON_RULES: Mapping[str, DeclineRule] = {
    "highest_risk_level": stop_rule("blocked by Radar as highest risk", notify=False),
    "rule": stop_rule("blocked by a Radar rule", notify=False),
    "elevated_risk_level": _reconcile("placed in review by Radar (elevated risk)"),
    "low_probability_of_authorization": _limited("blocked as unlikely to be authorized"),
    "previously_declined_do_not_retry": _EXCESSIVE_RETRIES,
    "merchant_blacklist": DECLINE_CODE_RULES["merchant_blacklist"],
}

# Bank debit failures (ACH, SEPA) arrive as the charge's failure_code; Stripe maps the bank's
# return reason to them (docs.stripe.com/declines/network-codes: ACH R01/R09 and SEPA AM04 ->
# insufficient_funds, R02 -> bank_account_closed, R03/R04 -> bank_account_invalid_details,
# R05/R07/R08/R10/R11/R29/R31 -> debit_not_authorized, R15 -> recipient_deceased,
# R16 -> bank_account_frozen). Only insufficient funds may be presented again.
BANK_DEBIT_FAILURE_RULES: Mapping[str, DeclineRule] = {
    "insufficient_funds": _retry("insufficient funds in the bank account"),
    "bank_account_closed": stop_rule("bank account closed"),
    "bank_account_invalid_details": _new_pm("bank account details incorrect"),
    "debit_not_authorized": stop_rule("no valid mandate: the customer did not authorize the debit"),
    "bank_account_frozen": stop_rule("bank account frozen"),
    "bank_account_restricted": stop_rule("bank account cannot be debited"),
    "recipient_deceased": stop_rule("account holder reported deceased", notify=False),
}

# API error codes (reference 1.3). ``card_declined`` is only a wrapper: the decline code says why.
FAILURE_CODE_RULES: Mapping[str, DeclineRule] = {
    **{code: DECLINE_CODE_RULES[code] for code in (
        "expired_card", "incorrect_cvc", "invalid_cvc", "incorrect_number", "invalid_number",
        "incorrect_zip", "invalid_expiry_month", "invalid_expiry_year", "processing_error",
        "authentication_required",
    )},
    "card_decline_rate_limit_exceeded": _new_pm(
        "too many declines on this card (Stripe rate limit)", blocks_window=True
    ),
    "invoice_payment_intent_requires_action": _auth("off-session payment needs 3-D Secure"),
    "payment_intent_authentication_failure": _auth("customer authentication failed"),
    "idempotency_key_in_use": _retry("Stripe was busy with the same request"),
    "lock_timeout": _retry("Stripe could not lock the object in time"),
    "rate_limit": _retry("Stripe rate limit reached"),
    "invoice_not_editable": _reconcile("invoice can no longer be changed (paid or closed?)"),
    **BANK_DEBIT_FAILURE_RULES,
}

# outcome.type: the coarsest signal, used only when no code is known.
OUTCOME_TYPE_RULES: Mapping[str, DeclineRule] = {
    "issuer_declined": _limited("declined by the issuer without a known code"),
    "blocked": _limited("blocked by Stripe without a known reason"),
    "invalid": _new_pm("request invalid for this card"),
    "manual_review": _reconcile("placed in manual review"),
    "authorized": _reconcile("reported as authorized: check whether it was paid"),
}

# Visa decline categories (reference 2, Visa table; acquirer lists, confirm with your acquirer).
# Category 1 means the issuer will never approve, and every reattempt is a fee event.
VISA_CATEGORY_1 = MappingProxyType({
    "04": "pick up card", "07": "pick up card, special condition", "12": "invalid transaction",
    "14": "invalid card number", "15": "no such issuer", "41": "lost card", "43": "stolen card",
    "46": "closed account", "57": "not permitted to the cardholder", "R0": "stop payment order",
    "R1": "revocation of authorization", "R3": "revocation of all authorizations",
})
VISA_CATEGORY_2 = frozenset({
    "03", "19", "39", "51", "52", "53", "59", "61", "62", "65", "75", "78", "86", "91", "93",
    "96", "5C", "9G", "N3", "N4",
})
VISA_CATEGORY_3 = frozenset({"54", "55", "6P", "70", "82", "1A", "N7"})

VISA_FALLBACK_RULES: Mapping[int, DeclineRule] = {
    2: _retry("issuer cannot approve at this time (Visa category 2)"),
    3: _new_pm("card data must be revalidated before a reattempt (Visa category 3)"),
    4: _limited("generic issuer refusal (Visa category 4)"),
}
# 1A is Visa's "additional customer authentication required": revalidation means 3-D Secure.
VISA_RAW_CODE_RULES: Mapping[str, DeclineRule] = {
    "1A": _auth("issuer requires additional authentication (Visa code 1A)"),
}

DEFAULT_RULE = _limited("declined without a recognisable reason")


