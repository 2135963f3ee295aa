"""Decline classification: turns Stripe's decline details into one engine class plus network flags.

Pure and table-driven: it reads a ``DeclineInfo`` and a card brand, never the database, the clock
or the Stripe API. It does not count attempts or schedule anything (``network_rules`` and the
policy do). Source of every table: shared/reference/stripe-and-card-networks.md, sections 1 and 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from webhooks.facts import DeclineInfo

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
class _Rule:
    decline_class: DeclineClass
    reason: str
    card_blocked: bool = False
    notify: bool | None = None  # None: the class default (_NOTIFY_BY_CLASS)
    min_wait: timedelta | None = None
    blocks_window: bool = False


@dataclass(frozen=True)
class _Match:
    rule: _Rule
    code: str | None
    source: str


def _retry(reason: str, min_wait: timedelta | None = None) -> _Rule:
    return _Rule(DeclineClass.RETRY, reason, min_wait=min_wait)


def _limited(reason: str, notify: bool | None = None) -> _Rule:
    return _Rule(DeclineClass.RETRY_LIMITED, reason, notify=notify)


def _new_pm(reason: str, blocks_window: bool = False) -> _Rule:
    return _Rule(DeclineClass.NEW_PAYMENT_METHOD, reason, blocks_window=blocks_window)


def _stop(reason: str, notify: bool | None = None) -> _Rule:
    # A STOP is by definition a card the issuer or network will not approve again.
    return _Rule(DeclineClass.STOP, reason, card_blocked=True, notify=notify)


def _auth(reason: str) -> _Rule:
    return _Rule(DeclineClass.AUTHENTICATION, reason)


def _reconcile(reason: str) -> _Rule:
    return _Rule(DeclineClass.RECONCILE, reason)


# The customer must act for these classes (new card, fixed details, 3-D Secure); soft declines
# and reconcile cases are the engine's or the operator's to handle.
_NOTIFY_BY_CLASS = {
    DeclineClass.RETRY: False,
    DeclineClass.RETRY_LIMITED: False,
    DeclineClass.NEW_PAYMENT_METHOD: True,
    DeclineClass.STOP: True,
    DeclineClass.AUTHENTICATION: True,
    DeclineClass.RECONCILE: False,
}

# Stripe advice codes (reference 1.2): the issuer's instruction for this very attempt.
_ADVICE_CODE_RULES: Mapping[str, _Rule] = {
    "do_not_try_again": _stop("issuer says do not try again"),
    "confirm_card_data": _new_pm("issuer asks the customer to confirm the card details"),
    "try_again_later": _retry("issuer says try again later"),
}

# Mastercard Merchant Advice Codes (reference 2, MAC table). A retry after MAC 03 or 21 is a
# per-attempt fee under Mastercard's Transaction Processing Excellence programme.
_MAC_RULES: Mapping[str, _Rule] = {
    "01": _new_pm("new account information available (Mastercard MAC 01)"),
    "02": _retry("cannot approve now, try later (Mastercard MAC 02)", timedelta(hours=72)),
    "03": _stop("do not try again (Mastercard MAC 03)"),
    "04": _reconcile("token requirements not met (Mastercard MAC 04): fix the request"),
    "21": _stop("cardholder cancelled recurring payments (Mastercard MAC 21)"),
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
_MAC_INFORMATIONAL = frozenset({"43"})

_PIN_ONLY = "PIN problem (card-present only; cannot be fixed off-session)"

# Stripe card decline codes (reference 1.3, all 50 codes).
_DECLINE_CODE_RULES: Mapping[str, _Rule] = {
    "authentication_required": _auth("issuer requires authentication (3-D Secure)"),
    "authentication_not_handled": _auth("authentication was required but not completed"),
    "mobile_device_authentication_required": _auth("on-device authentication required"),
    "approve_with_id": _retry("issuer could not authorize this time"),
    "call_issuer": _limited("issuer asks the cardholder to call the bank", notify=True),
    "card_not_supported": _new_pm("card does not support this kind of purchase"),
    "card_velocity_exceeded": _retry("card balance, credit or amount limit reached"),
    "currency_not_supported": _new_pm("card cannot pay in this currency"),
    "do_not_honor": _limited("issuer refused without a reason (do not honor)"),
    "do_not_try_again": _stop("issuer says do not try again"),
    "duplicate_transaction": _reconcile("identical charge submitted very recently"),
    "expired_card": _new_pm("card expired"),
    "fraudulent": _stop("payment suspected fraudulent"),
    "generic_decline": _limited("issuer refused without a reason (generic decline)"),
    "incorrect_address": _new_pm("billing address does not match"),
    "incorrect_cvc": _new_pm("security code (CVC) incorrect"),
    "invalid_cvc": _new_pm("security code (CVC) invalid"),
    "incorrect_number": _new_pm("card number incorrect"),
    "invalid_number": _new_pm("card number invalid"),
    "incorrect_zip": _new_pm("postal code does not match"),
    "insufficient_funds": _retry("insufficient funds"),
    "invalid_account": _stop("card or account invalid (for example closed)"),
    "invalid_amount": _reconcile("amount invalid or above an allowed limit"),
    "invalid_expiry_month": _new_pm("expiry month invalid"),
    "invalid_expiry_year": _new_pm("expiry year invalid"),
    "issuer_not_available": _retry("issuer could not be reached"),
    "lost_card": _stop("card reported lost"),
    "merchant_blacklist": _stop("card matches the account's block list", notify=False),
    "new_account_information_available": _new_pm("card or account replaced"),
    "no_action_taken": _limited("issuer refused without a reason (no action taken)"),
    "not_permitted": _new_pm("payment not permitted on this card"),
    "pickup_card": _stop("issuer asks to pick up the card"),
    "processing_error": _retry("error while processing the card"),
    "reenter_transaction": _retry("issuer failed to process the payment"),
    "restricted_card": _stop("card restricted"),
    "revocation_of_all_authorizations": _stop("cardholder revoked all recurring payments"),
    "revocation_of_authorization": _stop("cardholder revoked this recurring payment"),
    "security_violation": _stop("issuer reported a security violation"),
    "service_not_allowed": _new_pm("issuer does not allow this service on the card"),
    "stolen_card": _stop("card reported stolen"),
    "stop_payment_order": _stop("cardholder placed a stop-payment order"),
    "testmode_decline": _stop("a Stripe test card was used (integration bug)", notify=False),
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
    {code: rule.decline_class for code, rule in _DECLINE_CODE_RULES.items()}
)

# Stripe's window-wide block after excessive retries: support.stripe.com/questions/
# payment-blocked-due-to-excessive-retries. Reattempting inside the 30 days only gets blocked again.
_EXCESSIVE_RETRIES = _new_pm(
    "Stripe blocked further retries on this card (excessive retries)", blocks_window=True
)

# outcome.reason values that are Stripe or Radar verdicts rather than issuer codes (reference 1.3).
_OUTCOME_REASON_RULES: Mapping[str, _Rule] = {
    "highest_risk_level": _stop("blocked by Radar as highest risk", notify=False),
    "rule": _stop("blocked by a Radar rule", notify=False),
    "elevated_risk_level": _reconcile("placed in review by Radar (elevated risk)"),
    "low_probability_of_authorization": _limited("blocked as unlikely to be authorized"),
    "previously_declined_do_not_retry": _EXCESSIVE_RETRIES,
    "merchant_blacklist": _DECLINE_CODE_RULES["merchant_blacklist"],
}

# API error codes (reference 1.3). ``card_declined`` is only a wrapper: the decline code says why.
_FAILURE_CODE_RULES: Mapping[str, _Rule] = {
    **{code: _DECLINE_CODE_RULES[code] for code in (
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
}

# outcome.type: the coarsest signal, used only when no code is known.
_OUTCOME_TYPE_RULES: Mapping[str, _Rule] = {
    "issuer_declined": _limited("declined by the issuer without a known code"),
    "blocked": _limited("blocked by Stripe without a known reason"),
    "invalid": _new_pm("request invalid for this card"),
    "manual_review": _reconcile("placed in manual review"),
    "authorized": _reconcile("reported as authorized: check whether it was paid"),
}

# Visa decline categories (reference 2, Visa table; acquirer lists, confirm with your acquirer).
# Category 1 means the issuer will never approve, and every reattempt is a fee event.
_VISA_CATEGORY_1 = MappingProxyType({
    "04": "pick up card", "07": "pick up card, special condition", "12": "invalid transaction",
    "14": "invalid card number", "15": "no such issuer", "41": "lost card", "43": "stolen card",
    "46": "closed account", "57": "not permitted to the cardholder", "R0": "stop payment order",
    "R1": "revocation of authorization", "R3": "revocation of all authorizations",
})
_VISA_CATEGORY_2 = frozenset({
    "03", "19", "39", "51", "52", "53", "59", "61", "62", "65", "75", "78", "86", "91", "93",
    "96", "5C", "9G", "N3", "N4",
})
_VISA_CATEGORY_3 = frozenset({"54", "55", "6P", "70", "82", "1A", "N7"})

_VISA_FALLBACK_RULES: Mapping[int, _Rule] = {
    2: _retry("issuer cannot approve at this time (Visa category 2)"),
    3: _new_pm("card data must be revalidated before a reattempt (Visa category 3)"),
    4: _limited("generic issuer refusal (Visa category 4)"),
}
# 1A is Visa's "additional customer authentication required": revalidation means 3-D Secure.
_VISA_RAW_CODE_RULES: Mapping[str, _Rule] = {
    "1A": _auth("issuer requires additional authentication (Visa code 1A)"),
}

_DEFAULT_RULE = _limited("declined without a recognisable reason")


def normalize_brand(brand: str | None) -> str | None:
    """Stripe's brand value in one spelling (``"MasterCard"`` on old sources -> ``"mastercard"``).

    ``None`` when the brand is missing or Stripe itself reports it as ``unknown``.
    """
    if not brand:
        return None
    name = brand.strip().lower().replace(" ", "")
    return None if name in ("", "unknown") else name


def visa_decline_category(network_decline_code: str | None) -> int | None:
    """Visa's decline category (1-4) for a raw issuer code; ``None`` without a code."""
    raw = _raw_code(network_decline_code)
    if raw is None:
        return None
    if raw in _VISA_CATEGORY_1:
        return 1
    if raw in _VISA_CATEGORY_2:
        return 2
    if raw in _VISA_CATEGORY_3:
        return 3
    return 4  # Visa puts every other decline code in the generic category


def classify_decline(decline: DeclineInfo, brand: str | None = None) -> Classification:
    """Classify one failed attempt.

    Precedence (reference 1.1): advice_code, then the Mastercard MAC, then decline_code /
    outcome_reason, then failure_code, then the Visa category of the raw code, then outcome_type.
    A network veto (Visa category 1, MAC 03/21, Stripe's 30-day block) then overrides anything
    softer, because reattempting against it costs a fee or is refused anyway.
    """
    brand = normalize_brand(brand)
    match = _first_match(decline, brand)
    veto = _network_veto(decline, brand)
    if veto is not None and _is_softer(match.rule, veto.rule):
        match = veto
    return _classification(match, decline, brand)


def _first_match(decline: DeclineInfo, brand: str | None) -> _Match:
    for finder in _FINDERS:
        match = finder(decline, brand)
        if match is not None:
            return match
    unknown = _code(decline.decline_code) or _code(decline.outcome_reason)
    unknown = unknown or _code(decline.failure_code)
    return _Match(_DEFAULT_RULE, unknown, "default")


def _by_advice_code(decline: DeclineInfo, brand: str | None) -> _Match | None:
    return _lookup(_ADVICE_CODE_RULES, _code(decline.advice_code), "advice_code")


def _by_mac(decline: DeclineInfo, brand: str | None) -> _Match | None:
    mac = _mac(decline, brand)
    if mac in _MAC_INFORMATIONAL:
        return None
    return _lookup(_MAC_RULES, mac, "network_advice_code")


def _by_issuer_code(decline: DeclineInfo, brand: str | None) -> _Match | None:
    reason = _code(decline.outcome_reason)
    # A Stripe or Radar verdict outranks the decline code it travels with: an excessive-retry
    # block is reported to the API caller as decline_code=generic_decline.
    verdict = _lookup(_OUTCOME_REASON_RULES, reason, "outcome_reason")
    if verdict is not None:
        return verdict
    issuer = _lookup(_DECLINE_CODE_RULES, _code(decline.decline_code), "decline_code")
    # For issuer declines, outcome.reason carries the decline code itself.
    return issuer or _lookup(_DECLINE_CODE_RULES, reason, "outcome_reason")


def _by_failure_code(decline: DeclineInfo, brand: str | None) -> _Match | None:
    return _lookup(_FAILURE_CODE_RULES, _code(decline.failure_code), "failure_code")


def _by_visa_category(decline: DeclineInfo, brand: str | None) -> _Match | None:
    if brand != "visa":
        return None
    raw = _raw_code(decline.network_decline_code)
    category = visa_decline_category(raw)
    if category is None:
        return None
    rule = _VISA_RAW_CODE_RULES.get(raw) or _VISA_FALLBACK_RULES.get(category)
    rule = rule or _visa_category_1_rule(raw)
    return _Match(rule, raw, "network_decline_code")


def _by_outcome_type(decline: DeclineInfo, brand: str | None) -> _Match | None:
    return _lookup(_OUTCOME_TYPE_RULES, _code(decline.outcome_type), "outcome_type")


_FINDERS: tuple[Callable[[DeclineInfo, str | None], _Match | None], ...] = (
    _by_advice_code,
    _by_mac,
    _by_issuer_code,
    _by_failure_code,
    _by_visa_category,
    _by_outcome_type,
)


def _network_veto(decline: DeclineInfo, brand: str | None) -> _Match | None:
    """The strongest network or Stripe signal that forbids retrying, whatever else was said."""
    raw = _raw_code(decline.network_decline_code)
    if brand == "visa" and raw in _VISA_CATEGORY_1:
        return _Match(_visa_category_1_rule(raw), raw, "network_decline_code")
    mac = _mac(decline, brand)
    if mac is not None and _MAC_RULES.get(mac, _DEFAULT_RULE).card_blocked:
        return _Match(_MAC_RULES[mac], mac, "network_advice_code")
    # Stripe's own 30-day block: retrying inside the window is refused before it reaches the issuer.
    for table, value, source in (
        (_OUTCOME_REASON_RULES, decline.outcome_reason, "outcome_reason"),
        (_FAILURE_CODE_RULES, decline.failure_code, "failure_code"),
    ):
        match = _lookup(table, _code(value), source)
        if match is not None and match.rule.blocks_window:
            return match
    return None


def _is_softer(primary: _Rule, veto: _Rule) -> bool:
    if primary.card_blocked:
        return False
    return veto.card_blocked or not primary.blocks_window


def _visa_category_1_rule(raw: str) -> _Rule:
    meaning = _VISA_CATEGORY_1.get(raw, "never approved")
    return _stop(f"issuer will never approve this card (Visa category 1, code {raw}: {meaning})")


def _classification(match: _Match, decline: DeclineInfo, brand: str | None) -> Classification:
    rule = match.rule
    limited = rule.decline_class is DeclineClass.RETRY_LIMITED
    notify = _NOTIFY_BY_CLASS[rule.decline_class] if rule.notify is None else rule.notify
    category = visa_decline_category(decline.network_decline_code) if brand == "visa" else None
    return Classification(
        decline_class=rule.decline_class,
        code=match.code,
        source=match.source,
        reason=rule.reason,
        card_blocked=rule.card_blocked,
        min_wait=_min_wait(rule, decline, brand),
        blocks_window=rule.blocks_window,
        visa_category=category,
        max_attempts=RETRY_LIMITED_MAX_ATTEMPTS if limited else None,
        notify_customer=notify,
    )


def _min_wait(rule: _Rule, decline: DeclineInfo, brand: str | None) -> timedelta | None:
    """The rule's own wait, lengthened by a MAC retry-after wait when a retry is still allowed.

    An advice code may outrank the MAC, but Mastercard's retry-after wait (MAC 24-30) still
    holds for the next attempt on the card.
    """
    if rule.decline_class not in (DeclineClass.RETRY, DeclineClass.RETRY_LIMITED):
        return rule.min_wait
    mac_rule = _MAC_RULES.get(_mac(decline, brand) or "")
    waits = [w for w in (rule.min_wait, mac_rule and mac_rule.min_wait) if w is not None]
    return max(waits, default=None)


def _lookup(table: Mapping[str, _Rule], code: str | None, source: str) -> _Match | None:
    if code is None or code not in table:
        return None
    return _Match(table[code], code, source)


def _mac(decline: DeclineInfo, brand: str | None) -> str | None:
    # Merchant advice codes are Mastercard's; on another known brand the field means nothing.
    if brand not in (None, "mastercard"):
        return None
    return _raw_code(decline.network_advice_code)


def _code(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    return text or None


def _raw_code(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    if not text:
        return None
    return text.zfill(2) if text.isdigit() else text
