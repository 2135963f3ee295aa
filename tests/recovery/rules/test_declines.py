"""Decline classification: every code of the reference table, and the precedence between fields."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recovery.rules.decline_codes import (
    DECLINE_CODE_CLASSES,
    RETRY_LIMITED_MAX_ATTEMPTS,
    Classification,
    DeclineClass,
)
from recovery.rules.declines import (
    classify_decline,
    normalize_brand,
    visa_decline_category,
)
from webhooks.facts import DeclineInfo

RETRY = DeclineClass.RETRY
LIMITED = DeclineClass.RETRY_LIMITED
NEW_PM = DeclineClass.NEW_PAYMENT_METHOD
STOP = DeclineClass.STOP
AUTH = DeclineClass.AUTHENTICATION
RECONCILE = DeclineClass.RECONCILE

# The 50 card decline codes of reference section 1.3 with the class the reference recommends
# (N/A PIN codes: a new payment method, since the engine only charges off-session).
REFERENCE_DECLINE_CODES = {
    "authentication_required": AUTH,
    "authentication_not_handled": AUTH,
    "mobile_device_authentication_required": AUTH,
    "approve_with_id": RETRY,
    "call_issuer": LIMITED,
    "card_not_supported": NEW_PM,
    "card_velocity_exceeded": RETRY,
    "currency_not_supported": NEW_PM,
    "do_not_honor": LIMITED,
    "do_not_try_again": STOP,
    "duplicate_transaction": RECONCILE,
    "expired_card": NEW_PM,
    "fraudulent": STOP,
    "generic_decline": LIMITED,
    "incorrect_address": NEW_PM,
    "incorrect_cvc": NEW_PM,
    "invalid_cvc": NEW_PM,
    "incorrect_number": NEW_PM,
    "invalid_number": NEW_PM,
    "incorrect_zip": NEW_PM,
    "insufficient_funds": RETRY,
    "invalid_account": STOP,
    "invalid_amount": RECONCILE,
    "invalid_expiry_month": NEW_PM,
    "invalid_expiry_year": NEW_PM,
    "issuer_not_available": RETRY,
    "lost_card": STOP,
    "merchant_blacklist": STOP,
    "new_account_information_available": NEW_PM,
    "no_action_taken": LIMITED,
    "not_permitted": NEW_PM,
    "pickup_card": STOP,
    "processing_error": RETRY,
    "reenter_transaction": RETRY,
    "restricted_card": STOP,
    "revocation_of_all_authorizations": STOP,
    "revocation_of_authorization": STOP,
    "security_violation": STOP,
    "service_not_allowed": NEW_PM,
    "stolen_card": STOP,
    "stop_payment_order": STOP,
    "testmode_decline": STOP,
    "transaction_not_allowed": NEW_PM,
    "try_again_later": RETRY,
    "withdrawal_count_limit_exceeded": RETRY,
    "incorrect_pin": NEW_PM,
    "invalid_pin": NEW_PM,
    "pin_try_exceeded": NEW_PM,
    "offline_pin_required": NEW_PM,
    "online_or_offline_pin_required": NEW_PM,
}

VISA_CATEGORY_1 = ["04", "07", "12", "14", "15", "41", "43", "46", "57", "R0", "R1", "R3"]
MAC_WAITS = {
    "24": timedelta(hours=1),
    "25": timedelta(hours=24),
    "26": timedelta(days=2),
    "27": timedelta(days=4),
    "28": timedelta(days=6),
    "29": timedelta(days=8),
    "30": timedelta(days=10),
}


def classify(brand: str | None = None, **fields: str) -> Classification:
    return classify_decline(DeclineInfo(**fields), brand)


def test_the_table_holds_exactly_the_reference_codes():
    assert len(REFERENCE_DECLINE_CODES) == 50
    assert set(DECLINE_CODE_CLASSES) == set(REFERENCE_DECLINE_CODES)


@pytest.mark.parametrize(("code", "expected"), sorted(REFERENCE_DECLINE_CODES.items()))
def test_every_reference_decline_code_is_classified(code, expected):
    result = classify(failure_code="card_declined", decline_code=code, outcome_type="blocked")

    assert result.decline_class is expected
    assert (result.code, result.source) == (code, "decline_code")
    assert result.reason
    # STOP and only STOP says the card itself must never be charged again.
    assert result.card_blocked is (expected is STOP)
    assert result.blocks_window is False
    assert result.max_attempts == (RETRY_LIMITED_MAX_ATTEMPTS if expected is LIMITED else None)


@pytest.mark.parametrize("code", sorted(REFERENCE_DECLINE_CODES))
def test_outcome_reason_carries_the_decline_code_for_issuer_declines(code):
    result = classify(outcome_type="issuer_declined", outcome_reason=code)

    assert result.decline_class is REFERENCE_DECLINE_CODES[code]
    assert (result.code, result.source) == (code, "outcome_reason")


def test_readable_reasons():
    assert classify(decline_code="stolen_card").reason == "card reported stolen"
    assert classify(decline_code="insufficient_funds").reason == "insufficient funds"


@pytest.mark.parametrize(
    ("code", "expected", "card_blocked"),
    [
        ("highest_risk_level", STOP, True),
        ("rule", STOP, True),
        ("merchant_blacklist", STOP, True),
        ("elevated_risk_level", RECONCILE, False),
        ("low_probability_of_authorization", LIMITED, False),
        ("previously_declined_do_not_retry", NEW_PM, False),
    ],
)
def test_stripe_and_radar_outcome_reasons(code, expected, card_blocked):
    result = classify(outcome_type="blocked", outcome_reason=code)

    assert result.decline_class is expected
    assert (result.code, result.source) == (code, "outcome_reason")
    assert result.card_blocked is card_blocked


def test_previously_declined_do_not_retry_blocks_the_window():
    # Stripe reports its own excessive-retry block as decline_code=generic_decline.
    result = classify(
        failure_code="card_declined",
        decline_code="generic_decline",
        outcome_type="blocked",
        outcome_reason="previously_declined_do_not_retry",
        network_status="not_sent_to_network",
    )

    assert result.source == "outcome_reason"
    assert result.blocks_window is True
    assert result.card_blocked is False
    assert result.notify_customer is True


def test_stripes_window_block_outranks_a_soft_advice_code():
    result = classify(
        advice_code="try_again_later", outcome_reason="previously_declined_do_not_retry"
    )

    assert result.blocks_window is True
    assert result.source == "outcome_reason"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("expired_card", NEW_PM),
        ("incorrect_cvc", NEW_PM),
        ("incorrect_number", NEW_PM),
        ("incorrect_zip", NEW_PM),
        ("invalid_expiry_month", NEW_PM),
        ("invalid_expiry_year", NEW_PM),
        ("processing_error", RETRY),
        ("authentication_required", AUTH),
        ("card_decline_rate_limit_exceeded", NEW_PM),
        ("invoice_payment_intent_requires_action", AUTH),
        ("payment_intent_authentication_failure", AUTH),
    ],
)
def test_api_error_codes(code, expected):
    result = classify(failure_code=code)

    assert result.decline_class is expected
    assert (result.code, result.source) == (code, "failure_code")


def test_card_decline_rate_limit_blocks_the_window_even_beside_a_decline_code():
    result = classify(failure_code="card_decline_rate_limit_exceeded", decline_code="do_not_honor")

    assert result.blocks_window is True
    assert result.source == "failure_code"


def test_card_declined_is_a_wrapper_and_the_decline_code_decides():
    result = classify(failure_code="card_declined", decline_code="expired_card")

    assert (result.decline_class, result.source) == (NEW_PM, "decline_code")


def test_card_declined_alone_falls_back_to_the_outcome_type():
    result = classify(failure_code="card_declined", outcome_type="issuer_declined")

    assert (result.decline_class, result.source) == (LIMITED, "outcome_type")


@pytest.mark.parametrize(
    "fields",
    [
        {"decline_code": "a_code_stripe_adds_next_year"},
        {"failure_code": "card_declined"},
        {},
    ],
)
def test_unknown_codes_are_a_limited_retry(fields):
    result = classify(**fields)

    assert result.decline_class is LIMITED
    assert result.source == "default"
    assert result.max_attempts == RETRY_LIMITED_MAX_ATTEMPTS
    assert result.card_blocked is False


def test_unknown_code_is_named_in_the_result():
    assert classify(decline_code="a_code_stripe_adds_next_year").code == (
        "a_code_stripe_adds_next_year"
    )


def test_unknown_decline_code_lets_a_known_failure_code_decide():
    result = classify(decline_code="a_code_stripe_adds_next_year", failure_code="expired_card")

    assert (result.decline_class, result.source) == (NEW_PM, "failure_code")


@pytest.mark.parametrize(
    ("advice", "decline_code", "expected"),
    [
        ("do_not_try_again", "insufficient_funds", STOP),
        ("confirm_card_data", "do_not_honor", NEW_PM),
        ("try_again_later", "do_not_honor", RETRY),
        ("try_again_later", "lost_card", RETRY),
    ],
)
def test_advice_code_overrides_the_decline_code(advice, decline_code, expected):
    result = classify(advice_code=advice, decline_code=decline_code)

    assert result.decline_class is expected
    assert (result.code, result.source) == (advice, "advice_code")


def test_do_not_try_again_advice_blocks_the_card():
    result = classify(advice_code="do_not_try_again")

    assert result.card_blocked is True
    assert result.notify_customer is True


@pytest.mark.parametrize("brand", ["mastercard", "MasterCard", None])
def test_mac_03_overrides_insufficient_funds(brand):
    result = classify(brand, decline_code="insufficient_funds", network_advice_code="03")

    assert result.decline_class is STOP
    assert result.card_blocked is True
    assert (result.code, result.source) == ("03", "network_advice_code")


def test_mac_is_ignored_on_another_brand():
    result = classify("visa", decline_code="insufficient_funds", network_advice_code="03")

    assert (result.decline_class, result.source) == (RETRY, "decline_code")
    assert result.card_blocked is False


@pytest.mark.parametrize("mac", ["03", "21"])
def test_mac_fee_codes_outrank_a_soft_advice_code(mac):
    result = classify("mastercard", advice_code="try_again_later", network_advice_code=mac)

    assert result.card_blocked is True
    assert result.source == "network_advice_code"


@pytest.mark.parametrize(("mac", "wait"), sorted(MAC_WAITS.items()))
def test_mac_retry_after_waits(mac, wait):
    result = classify("mastercard", decline_code="insufficient_funds", network_advice_code=mac)

    assert result.decline_class is RETRY
    assert result.min_wait == wait
    assert result.source == "network_advice_code"


def test_mac_02_suggests_72_hours():
    result = classify("mastercard", decline_code="do_not_honor", network_advice_code="02")

    assert (result.decline_class, result.min_wait) == (RETRY, timedelta(hours=72))


def test_mac_wait_still_holds_under_a_soft_advice_code():
    result = classify("mastercard", advice_code="try_again_later", network_advice_code="27")

    assert result.source == "advice_code"
    assert result.min_wait == timedelta(days=4)


@pytest.mark.parametrize(
    ("mac", "expected"),
    [("01", NEW_PM), ("04", RECONCILE), ("21", STOP), ("40", NEW_PM), ("41", NEW_PM)],
)
def test_other_merchant_advice_codes(mac, expected):
    result = classify("mastercard", decline_code="do_not_honor", network_advice_code=mac)

    assert result.decline_class is expected
    assert result.source == "network_advice_code"


def test_mac_43_only_names_the_card_kind_so_the_decline_code_decides():
    result = classify("mastercard", decline_code="insufficient_funds", network_advice_code="43")

    assert (result.decline_class, result.source) == (RETRY, "decline_code")


@pytest.mark.parametrize("raw", VISA_CATEGORY_1)
def test_visa_category_1_raw_code_overrides_a_softer_decline_code(raw):
    result = classify("visa", decline_code="do_not_honor", network_decline_code=raw)

    assert result.decline_class is STOP
    assert result.card_blocked is True
    assert result.visa_category == 1
    assert (result.code, result.source) == (raw, "network_decline_code")


def test_visa_category_1_outranks_a_soft_advice_code():
    result = classify("visa", advice_code="try_again_later", network_decline_code="R1")

    assert result.card_blocked is True


@pytest.mark.parametrize("raw", ["04", "07", "41", "43", "R1"])
def test_visa_category_1_raw_code_stops_a_card_of_unknown_brand(raw):
    result = classify(None, decline_code="generic_decline", network_decline_code=raw)

    assert result.decline_class is STOP
    assert result.card_blocked is True
    assert result.visa_category == 1


def test_visa_category_decides_for_an_unknown_brand_when_no_code_is_known():
    assert classify(None, failure_code="card_declined",
                    network_decline_code="51").decline_class is RETRY


def test_visa_categories_apply_to_visa_only():
    result = classify("mastercard", decline_code="do_not_honor", network_decline_code="04")

    assert (result.decline_class, result.visa_category) == (LIMITED, None)


@pytest.mark.parametrize(
    ("raw", "category"),
    [("51", 2), ("5C", 2), ("N4", 2), ("54", 3), ("6P", 3), ("05", 4), ("99", 4), ("r1", 1)],
)
def test_visa_decline_category(raw, category):
    result = classify("visa", decline_code="do_not_honor", network_decline_code=raw)

    assert visa_decline_category(raw) == category
    assert result.visa_category == category


@pytest.mark.parametrize(
    ("raw", "expected"), [("51", RETRY), ("54", NEW_PM), ("1A", AUTH), ("05", LIMITED)]
)
def test_visa_category_decides_when_no_code_is_known(raw, expected):
    result = classify("visa", failure_code="card_declined", network_decline_code=raw)

    assert (result.decline_class, result.source) == (expected, "network_decline_code")


@pytest.mark.parametrize(
    ("code", "notify"),
    [
        ("call_issuer", True),
        ("expired_card", True),
        ("authentication_required", True),
        ("insufficient_funds", True),
        ("do_not_honor", False),
        ("duplicate_transaction", False),
        ("testmode_decline", False),
    ],
)
def test_notify_customer(code, notify):
    assert classify(decline_code=code).notify_customer is notify


@pytest.mark.parametrize(("failure", "expected"), [
    ("insufficient_funds", RETRY), ("bank_account_closed", STOP), ("debit_not_authorized", STOP),
    ("bank_account_invalid_details", NEW_PM), ("bank_account_frozen", STOP),
])
def test_bank_debit_failure_codes(failure, expected):
    assert classify(None, failure_code=failure).decline_class is expected


def test_codes_are_read_case_and_space_insensitively():
    result = classify(" Visa ", decline_code=" STOLEN_CARD ")

    assert (result.decline_class, result.code) == (STOP, "stolen_card")


def test_normalize_brand():
    assert normalize_brand("MasterCard") == "mastercard"
    assert normalize_brand("American Express") == "americanexpress"
    assert normalize_brand("unknown") is None
    assert normalize_brand(None) is None
