"""Values the engine's tables cannot hold are parse errors with a reason, before any write."""

from __future__ import annotations

import pytest

from models import ChargeAttempt, RecoveryCase
from tests.webhooks.payloads import (
    ACACIA,
    LATEST,
    charge_failed_event,
    invoice_event,
    payment_intent_failed_event,
    with_field,
)
from webhooks.facts import PaymentFailed
from webhooks.parse import ParseError, parse_event

FAILED = invoice_event("invoice.payment_failed", LATEST)
PAID = invoice_event("invoice.paid", ACACIA)
CHARGE = charge_failed_event(LATEST)
INTENT = payment_intent_failed_event(LATEST)

BAD = {
    "amount of 10^30": (with_field(FAILED, "data.object.amount_due", 10**30),
                        "amount_due must be between 0 and 2147483647, got a number of more than"),
    "amount over an integer column": (with_field(PAID, "data.object.amount_paid", 2**31),
                                      "amount_paid must be between 0 and 2147483647"),
    "negative amount": (with_field(CHARGE, "data.object.amount", -500),
                        "amount must be between 0 and 2147483647, got -500"),
    "negative attempt count": (with_field(FAILED, "data.object.attempt_count", -1),
                               "attempt_count must be between"),
    "200-character currency": (with_field(FAILED, "data.object.currency", "u" * 200),
                               "currency is not a three-letter currency code (200 characters)"),
    "currency with digits": (with_field(INTENT, "data.object.currency", "us1"),
                             "currency is not a three-letter currency code ('us1')"),
    "invoice id over 255 characters": (with_field(FAILED, "data.object.id", "in_" + "x" * 253),
                                       "data.object.id is longer than 255 characters (256)"),
    "event id over 255 characters": (with_field(PAID, "id", "evt_" + "x" * 300),
                                     "payload.id is longer than 255 characters"),
    "customer id over 255 characters": (with_field(PAID, "data.object.customer", "c" * 256),
                                        "customer is longer than 255 characters"),
    "expanded customer id over 255": (with_field(PAID, "data.object.customer",
                                                 {"id": "c" * 256, "object": "customer"}),
                                      "customer.id is longer than 255 characters"),
    "NUL in an id": (with_field(CHARGE, "data.object.id", "ch_\x00"),
                     "data.object.id contains a NUL character"),
    "decline code wider than its column": (
        with_field(INTENT, "data.object.last_payment_error.decline_code", "d" * 65),
        "decline_code is longer than 64 characters"),
    "network code wider than its column": (
        with_field(CHARGE, "data.object.outcome.network_decline_code", "9" * 9),
        "network_decline_code is longer than 8 characters"),
    "card country that is no country": (
        with_field(CHARGE, "data.object.payment_method_details.card.country", "USA"),
        "country is longer than 2 characters"),
    "timestamp past year 9999": (with_field(FAILED, "data.object.next_payment_attempt", 10**30),
                                 "next_payment_attempt is not a valid Unix time"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_value_no_column_can_hold_is_a_parse_error_with_its_reason(case):
    payload, reason = BAD[case]
    with pytest.raises(ParseError) as raised:
        parse_event(payload)
    assert reason in raised.value.reason


def test_values_at_the_limits_parse():
    payload = with_field(FAILED, "data.object.amount_due", 2**31 - 1)
    payload = with_field(payload, "data.object.currency", "EUR")
    payload = with_field(payload, "data.object.id", "in_" + "x" * 252)
    fact = parse_event(payload)
    assert isinstance(fact, PaymentFailed)
    assert (fact.amount_due, fact.currency, len(fact.invoice_id)) == (2**31 - 1, "eur", 255)


def test_the_parse_limits_fit_the_columns_the_engine_writes():
    from webhooks import parse
    from webhooks.payload_reader import MAX_ID_LENGTH

    columns = {
        parse.CODE_LENGTH: [ChargeAttempt.failure_code, ChargeAttempt.decline_code,
                            ChargeAttempt.outcome_reason, ChargeAttempt.card_fingerprint,
                            RecoveryCase.card_fingerprint],
        parse.SHORT_CODE_LENGTH: [ChargeAttempt.advice_code, ChargeAttempt.outcome_type],
        parse.NETWORK_CODE_LENGTH: [ChargeAttempt.network_decline_code,
                                    ChargeAttempt.network_advice_code],
        parse.BRAND_LENGTH: [ChargeAttempt.card_brand, RecoveryCase.card_brand],
        parse.FUNDING_LENGTH: [ChargeAttempt.card_funding],
        parse.COUNTRY_LENGTH: [ChargeAttempt.card_country],
        MAX_ID_LENGTH: [RecoveryCase.stripe_invoice_id, RecoveryCase.stripe_customer_id,
                        RecoveryCase.payment_method_id, ChargeAttempt.stripe_charge_id],
        3: [RecoveryCase.currency, ChargeAttempt.currency],
    }
    for limit, fields in columns.items():
        for field in fields:
            width = field.property.columns[0].type.length
            assert width is not None and limit <= width, field
