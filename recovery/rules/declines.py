"""Decline classification: turns Stripe's decline details into one engine class plus network flags.

Pure: it reads a ``DeclineInfo`` and a card brand, never the database, the clock or the Stripe
API, and looks its answers up in ``decline_codes``. It does not count attempts or schedule
anything (``network_rules`` and the policy do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from recovery.rules.decline_codes import (
    ADVICE_CODE_RULES,
    DECLINE_CODE_RULES,
    DEFAULT_RULE,
    FAILURE_CODE_RULES,
    MAC_INFORMATIONAL,
    MAC_RULES,
    NOTIFY_BY_CLASS,
    OUTCOME_REASON_RULES,
    OUTCOME_TYPE_RULES,
    RETRY_LIMITED_MAX_ATTEMPTS,
    VISA_CATEGORY_1,
    VISA_CATEGORY_2,
    VISA_CATEGORY_3,
    VISA_FALLBACK_RULES,
    VISA_RAW_CODE_RULES,
    Classification,
    DeclineClass,
    DeclineRule,
    RuleMatch,
    stop_rule,
)
from webhooks.facts import DeclineInfo


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
    if raw in VISA_CATEGORY_1:
        return 1
    if raw in VISA_CATEGORY_2:
        return 2
    if raw in VISA_CATEGORY_3:
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


def _first_match(decline: DeclineInfo, brand: str | None) -> RuleMatch:
    for finder in _FINDERS:
        match = finder(decline, brand)
        if match is not None:
            return match
    unknown = _code(decline.decline_code) or _code(decline.outcome_reason)
    unknown = unknown or _code(decline.failure_code)
    return RuleMatch(DEFAULT_RULE, unknown, "default")


def _by_advice_code(decline: DeclineInfo, brand: str | None) -> RuleMatch | None:
    return _lookup(ADVICE_CODE_RULES, _code(decline.advice_code), "advice_code")


def _by_mac(decline: DeclineInfo, brand: str | None) -> RuleMatch | None:
    mac = _mac(decline, brand)
    if mac in MAC_INFORMATIONAL:
        return None
    return _lookup(MAC_RULES, mac, "network_advice_code")


def _by_issuer_code(decline: DeclineInfo, brand: str | None) -> RuleMatch | None:
    reason = _code(decline.outcome_reason)
    # A Stripe or Radar verdict outranks the decline code it travels with: an excessive-retry
    # block is reported to the API caller as decline_code=generic_decline.
    verdict = _lookup(OUTCOME_REASON_RULES, reason, "outcome_reason")
    if verdict is not None:
        return verdict
    issuer = _lookup(DECLINE_CODE_RULES, _code(decline.decline_code), "decline_code")
    # For issuer declines, outcome.reason carries the decline code itself.
    return issuer or _lookup(DECLINE_CODE_RULES, reason, "outcome_reason")


def _by_failure_code(decline: DeclineInfo, brand: str | None) -> RuleMatch | None:
    return _lookup(FAILURE_CODE_RULES, _code(decline.failure_code), "failure_code")


def _by_visa_category(decline: DeclineInfo, brand: str | None) -> RuleMatch | None:
    if not _visa_rules_apply(brand):
        return None
    raw = _raw_code(decline.network_decline_code)
    category = visa_decline_category(raw)
    if category is None:
        return None
    rule = VISA_RAW_CODE_RULES.get(raw) or VISA_FALLBACK_RULES.get(category)
    rule = rule or _visa_category_1_rule(raw)
    return RuleMatch(rule, raw, "network_decline_code")


def _by_outcome_type(decline: DeclineInfo, brand: str | None) -> RuleMatch | None:
    return _lookup(OUTCOME_TYPE_RULES, _code(decline.outcome_type), "outcome_type")


_FINDERS: tuple[Callable[[DeclineInfo, str | None], RuleMatch | None], ...] = (
    _by_advice_code,
    _by_mac,
    _by_issuer_code,
    _by_failure_code,
    _by_visa_category,
    _by_outcome_type,
)


def _network_veto(decline: DeclineInfo, brand: str | None) -> RuleMatch | None:
    """The strongest network or Stripe signal that forbids retrying, whatever else was said."""
    raw = _raw_code(decline.network_decline_code)
    if _visa_rules_apply(brand) and raw in VISA_CATEGORY_1:
        return RuleMatch(_visa_category_1_rule(raw), raw, "network_decline_code")
    mac = _mac(decline, brand)
    if mac is not None and MAC_RULES.get(mac, DEFAULT_RULE).card_blocked:
        return RuleMatch(MAC_RULES[mac], mac, "network_advice_code")
    # Stripe's own 30-day block: retrying inside the window is refused before it reaches the issuer.
    for table, value, source in (
        (OUTCOME_REASON_RULES, decline.outcome_reason, "outcome_reason"),
        (FAILURE_CODE_RULES, decline.failure_code, "failure_code"),
    ):
        match = _lookup(table, _code(value), source)
        if match is not None and match.rule.blocks_window:
            return match
    return None


def _is_softer(primary: DeclineRule, veto: DeclineRule) -> bool:
    if primary.card_blocked:
        return False
    return veto.card_blocked or not primary.blocks_window


def _visa_category_1_rule(raw: str) -> DeclineRule:
    meaning = VISA_CATEGORY_1.get(raw, "never approved")
    return stop_rule(
        f"issuer will never approve this card (Visa category 1, code {raw}: {meaning})")


def _classification(match: RuleMatch, decline: DeclineInfo, brand: str | None) -> Classification:
    rule = match.rule
    limited = rule.decline_class is DeclineClass.RETRY_LIMITED
    notify = NOTIFY_BY_CLASS[rule.decline_class] if rule.notify is None else rule.notify
    category = (visa_decline_category(decline.network_decline_code)
                if _visa_rules_apply(brand) else None)
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


def _min_wait(rule: DeclineRule, decline: DeclineInfo, brand: str | None) -> timedelta | None:
    """The rule's own wait, lengthened by a MAC retry-after wait when a retry is still allowed.

    An advice code may outrank the MAC, but Mastercard's retry-after wait (MAC 24-30) still
    holds for the next attempt on the card.
    """
    if rule.decline_class not in (DeclineClass.RETRY, DeclineClass.RETRY_LIMITED):
        return rule.min_wait
    mac_rule = MAC_RULES.get(_mac(decline, brand) or "")
    waits = [w for w in (rule.min_wait, mac_rule and mac_rule.min_wait) if w is not None]
    return max(waits, default=None)


def _lookup(table: Mapping[str, DeclineRule], code: str | None, source: str) -> RuleMatch | None:
    if code is None or code not in table:
        return None
    return RuleMatch(table[code], code, source)


def _visa_rules_apply(brand: str | None) -> bool:
    # Without a brand the card may well be a Visa: its category 1 codes (04, 07, 41, 43, R1, ...)
    # mean "never approved" on the other networks too, so judging by them only errs on the safe
    # side, while ignoring them could cost a fee on every reattempt.
    return brand in (None, "visa")


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
