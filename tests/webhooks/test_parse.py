"""Parsing Stripe events of every supported API version into facts, and refusing bad ones."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webhooks.payloads import (
    ACACIA,
    API_VERSIONS,
    CARD_ID,
    CHARGE_ID,
    CREATED,
    CUSTOMER_ID,
    FINGERPRINT,
    INVOICE_ID,
    LATEST,
    OLDEST,
    PAYMENT_INTENT_ID,
    PAYMENT_METHOD_ID,
    SUBSCRIPTION_ID,
    charge_failed_event,
    customer_updated_event,
    invoice_event,
    is_basil_or_later,
    payment_intent_failed_event,
    payment_method_event,
    payment_method_object,
    source_expiring_event,
    stripe_event,
    subscription_deleted_event,
    thin_event,
    with_field,
    without,
)
from webhooks.facts import (
    ActionRequired,
    AnyFact,
    CardExpiring,
    CardInfo,
    ChargeFailed,
    InvoiceClosed,
    InvoicePaid,
    PaymentFailed,
    PaymentMethodChanged,
    SubscriptionCanceled,
)
from webhooks.parse import (
    HANDLED_EVENT_TYPES,
    ParseError,
    is_thin_event,
    parse_event,
    thin_event_reference,
)

OCCURRED = datetime.fromtimestamp(CREATED, UTC)
each_version = pytest.mark.parametrize("version", API_VERSIONS)


def parsed(payload: dict[str, Any], kind: type) -> Any:
    fact = parse_event(payload)
    assert isinstance(fact, kind), fact
    assert fact.event_id == payload["id"]
    assert fact.occurred_at == OCCURRED
    return fact


# --- invoices --------------------------------------------------------------------------------


@each_version
def test_payment_failed(version):
    payload = invoice_event("invoice.payment_failed", version, amount_due=4900, attempt_count=2)
    fact = parsed(payload, PaymentFailed)
    assert (fact.invoice_id, fact.customer_id, fact.subscription_id) == (
        INVOICE_ID,
        CUSTOMER_ID,
        SUBSCRIPTION_ID,
    )
    assert (fact.amount_due, fact.currency, fact.attempt_count) == (4900, "usd", 2)
    assert fact.next_payment_attempt == datetime.fromtimestamp(CREATED + 3 * 86_400, UTC)
    assert fact.billing_reason == "subscription_cycle"
    assert fact.hosted_invoice_url.startswith("https://invoice.stripe.com/")
    assert fact.payment_intent_id == PAYMENT_INTENT_ID
    # Since basil the intent comes from `payments`, which names no charge beside it.
    assert fact.charge_id == (None if is_basil_or_later(version) else CHARGE_ID)
    assert fact.interval_days == 30  # the invoice line's period


def test_payment_failed_without_a_readable_line_period_has_no_interval():
    payload = invoice_event("invoice.payment_failed", LATEST)
    payload["data"]["object"]["lines"]["data"][0]["period"] = {"start": "soon", "end": None}
    assert parse_event(payload).interval_days is None
    payload["data"]["object"]["lines"]["data"] = []
    assert parse_event(payload).interval_days is None


def test_basil_invoice_without_payments_names_no_charge_or_intent():
    fact = parse_event(invoice_event("invoice.payment_failed", LATEST, include_payments=False))
    assert (fact.charge_id, fact.payment_intent_id) == (None, None)
    assert fact.subscription_id == SUBSCRIPTION_ID


def test_basil_invoice_paid_by_charge_names_it_through_payments():
    fact = parse_event(
        invoice_event("invoice.payment_failed", LATEST, payment_intent=None, charge="ch_Direct")
    )
    assert (fact.charge_id, fact.payment_intent_id) == ("ch_Direct", None)


@each_version
def test_expanded_references_are_read_by_their_id(version):
    payload = invoice_event(
        "invoice.payment_failed",
        version,
        customer={"id": "cus_Expanded", "object": "customer"},
        subscription={"id": "sub_Expanded", "object": "subscription"},
        payment_intent={"id": "pi_Expanded", "object": "payment_intent"},
    )
    fact = parse_event(payload)
    assert (fact.customer_id, fact.subscription_id) == ("cus_Expanded", "sub_Expanded")
    assert fact.payment_intent_id == "pi_Expanded"


@each_version
def test_invoice_without_subscription(version):
    fact = parse_event(
        invoice_event("invoice.payment_failed", version, subscription=None, billing_reason="manual")
    )
    assert fact.subscription_id is None
    assert fact.billing_reason == "manual"


@each_version
@pytest.mark.parametrize("event_type", ["invoice.paid", "invoice.payment_succeeded"])
def test_invoice_paid(version, event_type):
    fact = parsed(invoice_event(event_type, version, amount_due=1200), InvoicePaid)
    assert (fact.invoice_id, fact.customer_id, fact.subscription_id) == (
        INVOICE_ID,
        CUSTOMER_ID,
        SUBSCRIPTION_ID,
    )
    assert (fact.amount_paid, fact.currency, fact.paid_out_of_band) == (1200, "usd", False)


def test_paid_out_of_band_is_read_where_it_exists():
    payload = invoice_event("invoice.paid", ACACIA, paid_out_of_band=True, amount_paid=0)
    assert parse_event(payload).paid_out_of_band is True


@each_version
def test_invoice_voided(version):
    fact = parsed(invoice_event("invoice.voided", version), InvoiceClosed)
    assert (fact.invoice_id, fact.status, fact.reason) == (INVOICE_ID, "void", None)


@each_version
def test_invoice_marked_uncollectible(version):
    payload = invoice_event(
        "invoice.marked_uncollectible", version, uncollectible_reason="subscription_canceled"
    )
    fact = parsed(payload, InvoiceClosed)
    assert (fact.invoice_id, fact.status) == (INVOICE_ID, "uncollectible")
    # Only endive says why.
    assert fact.reason == ("subscription_canceled" if version == LATEST else None)


@each_version
def test_payment_action_required(version):
    fact = parsed(invoice_event("invoice.payment_action_required", version), ActionRequired)
    assert (fact.invoice_id, fact.customer_id, fact.subscription_id) == (
        INVOICE_ID,
        CUSTOMER_ID,
        SUBSCRIPTION_ID,
    )
    assert fact.hosted_invoice_url.startswith("https://invoice.stripe.com/")


# --- charges and payment intents -------------------------------------------------------------


@each_version
def test_charge_failed(version):
    payload = charge_failed_event(
        version,
        amount=4900,
        failure_code="card_declined",
        decline_code="do_not_honor",
        network_decline_code="05",
        network_advice_code="03",
        advice_code="do_not_try_again",
        brand="mastercard",
        funding="debit",
        country="GB",
        fingerprint="fpMaster",
        last4="4444",
    )
    fact = parsed(payload, ChargeFailed)
    assert (fact.charge_id, fact.payment_intent_id) == (CHARGE_ID, PAYMENT_INTENT_ID)
    assert fact.invoice_id == (None if is_basil_or_later(version) else INVOICE_ID)
    assert (fact.customer_id, fact.amount, fact.currency) == (CUSTOMER_ID, 4900, "usd")
    decline = fact.decline
    assert (decline.failure_code, decline.decline_code) == ("card_declined", "do_not_honor")
    assert (decline.network_decline_code, decline.network_advice_code) == ("05", "03")
    assert decline.advice_code == "do_not_try_again"
    assert (decline.outcome_type, decline.outcome_reason) == ("issuer_declined", "do_not_honor")
    assert decline.network_status == "declined_by_network"
    assert decline.message == "Your card has insufficient funds."
    assert (decline.charge_id, decline.payment_intent_id) == (CHARGE_ID, PAYMENT_INTENT_ID)
    assert fact.card == CardInfo(
        fingerprint="fpMaster",
        brand="mastercard",
        funding="debit",
        country="GB",
        exp_month=12,
        exp_year=2028,
        last4="4444",
        payment_method_id=PAYMENT_METHOD_ID,
    )


def test_blocked_charge_has_a_reason_but_no_decline_code():
    payload = charge_failed_event(
        failure_code="card_declined",
        decline_code="highest_risk_level",
        outcome_type="blocked",
        network_status="not_sent_to_network",
        network_decline_code=None,
    )
    decline = parse_event(payload).decline
    assert decline.decline_code is None
    assert (decline.outcome_type, decline.outcome_reason) == ("blocked", "highest_risk_level")
    assert decline.network_status == "not_sent_to_network"


def test_charge_on_a_legacy_card_source_reads_the_source():
    source = {"id": "card_Old", "object": "card", "brand": "American Express", "last4": "0005"}
    overrides = {"payment_method_details": None, "source": source, "payment_method": None}
    card = parse_event(charge_failed_event(OLDEST, overrides=overrides)).card
    assert (card.brand, card.last4, card.payment_method_id) == ("amex", "0005", "card_Old")


@each_version
def test_payment_intent_failed(version):
    payload = payment_intent_failed_event(
        version,
        code="card_declined",
        decline_code="insufficient_funds",
        advice_code="try_again_later",
        network_decline_code="51",
        network_advice_code="02",
        brand="amex",
        fingerprint="fpAmex",
    )
    fact = parsed(payload, ChargeFailed)
    assert (fact.charge_id, fact.payment_intent_id) == (CHARGE_ID, PAYMENT_INTENT_ID)
    assert fact.invoice_id == (None if is_basil_or_later(version) else INVOICE_ID)
    assert (fact.customer_id, fact.amount, fact.currency) == (CUSTOMER_ID, 2500, "usd")
    decline = fact.decline
    assert (decline.failure_code, decline.decline_code) == ("card_declined", "insufficient_funds")
    assert (decline.advice_code, decline.network_decline_code) == ("try_again_later", "51")
    assert decline.network_advice_code == "02"
    assert decline.message == "Your card has insufficient funds."
    assert (decline.charge_id, decline.payment_intent_id) == (CHARGE_ID, PAYMENT_INTENT_ID)
    assert (fact.card.brand, fact.card.fingerprint) == ("amex", "fpAmex")
    assert fact.card.payment_method_id == PAYMENT_METHOD_ID


def test_payment_intent_with_an_unexpanded_payment_method_names_only_its_id():
    fact = parse_event(payment_intent_failed_event(payment_method="pm_Plain"))
    assert fact.card == CardInfo(fingerprint=None, payment_method_id="pm_Plain", kind=None)


def test_payment_intent_without_an_error_falls_back_to_the_latest_charge():
    fact = parse_event(payment_intent_failed_event(overrides={"last_payment_error": None}))
    assert fact.charge_id == CHARGE_ID
    assert fact.decline.failure_code is None
    assert fact.card is None


# --- payment methods, customers, subscriptions, cards ----------------------------------------


@each_version
@pytest.mark.parametrize(
    ("event_type", "automatic"),
    [("payment_method.attached", False), ("payment_method.automatically_updated", True)],
)
def test_payment_method_changed(version, event_type, automatic):
    payload = payment_method_event(event_type, version, exp_year=2031, brand="discover")
    fact = parsed(payload, PaymentMethodChanged)
    assert (fact.customer_id, fact.payment_method_id) == (CUSTOMER_ID, PAYMENT_METHOD_ID)
    assert (fact.automatic, fact.source) == (automatic, event_type)
    assert (fact.card.brand, fact.card.exp_year, fact.card.fingerprint) == (
        "discover",
        2031,
        FINGERPRINT,
    )
    assert fact.card.payment_method_id == PAYMENT_METHOD_ID


@pytest.mark.parametrize("kind", ["sepa_debit", "us_bank_account"])
def test_an_attached_bank_account_is_read_with_its_kind_and_fingerprint(kind):
    fact = parse_event(payment_method_event(method_type=kind, fingerprint="ba_fp_1"))
    assert fact.card == CardInfo(fingerprint="ba_fp_1", country="US", last4="4242",
                                 payment_method_id=PAYMENT_METHOD_ID, kind=kind)


def test_a_failed_bank_debit_charge_names_its_account_and_kind():
    fact = parse_event(charge_failed_event(
        method_type="us_bank_account", fingerprint="ba_fp_1", failure_code="insufficient_funds",
        decline_code=None, outcome_type="issuer_declined", network_decline_code="R01"))
    assert (fact.card.kind, fact.card.fingerprint, fact.card.brand) == (
        "us_bank_account", "ba_fp_1", None)
    assert fact.decline.failure_code == "insufficient_funds"


def test_a_failed_intent_on_a_bank_account_names_its_account_and_kind():
    method = payment_method_object(method_type="sepa_debit", fingerprint="ba_fp_2")
    fact = parse_event(payment_intent_failed_event(payment_method=method))
    assert (fact.card.kind, fact.card.fingerprint) == ("sepa_debit", "ba_fp_2")


@each_version
def test_customer_updated_with_a_new_default_payment_method(version):
    payload = customer_updated_event(
        version, default_payment_method="pm_New", previous_default_payment_method="pm_Old"
    )
    fact = parsed(payload, PaymentMethodChanged)
    assert (fact.customer_id, fact.payment_method_id, fact.card) == (CUSTOMER_ID, "pm_New", None)
    assert (fact.automatic, fact.source) == (False, "customer.updated")


def test_customer_updated_from_no_default_to_one():
    payload = customer_updated_event(previous_default_payment_method=None)
    assert parse_event(payload).payment_method_id == PAYMENT_METHOD_ID


@pytest.mark.parametrize(
    "previous",
    [
        {"email": "old@example.com"},
        {"invoice_settings": {"footer": "old footer"}},
        {"invoice_settings": {"default_payment_method": PAYMENT_METHOD_ID}},
    ],
    ids=["other-field", "other-setting", "same-default"],
)
def test_customer_updated_without_a_new_default_is_no_fact(previous):
    assert parse_event(customer_updated_event(previous_attributes=previous)) is None


def test_customer_updated_removing_the_default_is_no_fact():
    assert parse_event(customer_updated_event(default_payment_method=None)) is None


@each_version
def test_subscription_deleted(version):
    fact = parsed(subscription_deleted_event(version), SubscriptionCanceled)
    assert (fact.subscription_id, fact.customer_id) == (SUBSCRIPTION_ID, CUSTOMER_ID)
    # cancellation_details is missing from the oldest layout.
    assert fact.reason == (None if version == OLDEST else "payment_failed")


@each_version
@pytest.mark.parametrize(
    ("brand", "normalised"),
    [
        ("Visa", "visa"),
        ("MasterCard", "mastercard"),
        ("American Express", "amex"),
        ("Discover", "discover"),
        ("Diners Club", "diners"),
    ],
)
def test_source_expiring(version, brand, normalised):
    payload = source_expiring_event(version, brand=brand, exp_month=11, exp_year=2026)
    fact = parsed(payload, CardExpiring)
    assert fact.customer_id == CUSTOMER_ID
    assert fact.card == CardInfo(
        fingerprint=FINGERPRINT,
        brand=normalised,
        funding="credit",
        country="US",
        exp_month=11,
        exp_year=2026,
        last4="4242",
        payment_method_id=CARD_ID,
    )


def test_source_expiring_for_a_legacy_source_reads_its_card():
    source = {
        "id": "src_Old",
        "object": "source",
        "customer": CUSTOMER_ID,
        "type": "card",
        "card": {"brand": "MasterCard", "exp_month": 1, "exp_year": 2027, "last4": "4444"},
    }
    fact = parse_event(stripe_event("customer.source.expiring", source, OLDEST))
    assert (fact.card.brand, fact.card.exp_year, fact.card.payment_method_id) == (
        "mastercard",
        2027,
        "src_Old",
    )


# --- ignored and malformed events ------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    ["invoice.created", "invoice.updated", "customer.subscription.updated", "plan.created", "x"],
)
def test_unused_event_types_are_ignored(event_type):
    assert parse_event(stripe_event(event_type, {"id": "obj_1", "object": "thing"})) is None


def test_ignored_types_need_no_data():
    assert parse_event(without(stripe_event("plan.created", {}), "data")) is None


FAILED = invoice_event("invoice.payment_failed", ACACIA)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (without(FAILED, "id"), "payload.id is missing"),
        (with_field(FAILED, "id", ""), "payload.id is empty"),
        (with_field(FAILED, "object", "invoice"), "payload.object must be 'event'"),
        (without(FAILED, "object"), "payload.object must be 'event'"),
        (without(FAILED, "type"), "payload.type is missing"),
        (with_field(FAILED, "created", "yesterday"), "payload.created must be an integer"),
        (with_field(FAILED, "created", 10**20), "not a valid Unix time"),
        (without(FAILED, "data"), "payload.data is missing"),
        (with_field(FAILED, "data", []), "payload.data must be an object"),
        (without(FAILED, "data.object"), "payload.data.object is missing"),
        (with_field(FAILED, "data.object", [1, 2]), "payload.data.object must be an object"),
        (with_field(FAILED, "data.object.object", "charge"), "data.object.object must be invoice"),
        (without(FAILED, "data.object.id"), "data.object.id is missing"),
        (without(FAILED, "data.object.amount_due"), "data.object.amount_due is missing"),
        (with_field(FAILED, "data.object.amount_due", "25.00"), "amount_due must be an integer"),
        (with_field(FAILED, "data.object.amount_due", True), "amount_due must be an integer"),
        (with_field(FAILED, "data.object.currency", 840), "currency must be a string"),
        (with_field(FAILED, "data.object.customer", 7), "customer must be an id or an object"),
        (
            with_field(FAILED, "data.object.customer", {"object": "customer"}),
            "customer.id is missing",
        ),
        (thin_event(), "thin event"),
    ],
)
def test_malformed_events_raise_parse_error_with_a_reason(payload, reason):
    with pytest.raises(ParseError, match=reason) as raised:
        parse_event(payload)
    assert reason in raised.value.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            with_field(
                invoice_event("invoice.payment_failed", LATEST), "data.object.payments.data", {}
            ),
            "must be a list",
        ),
        (with_field(charge_failed_event(), "data.object.outcome", "declined"), "outcome must be"),
        (
            with_field(customer_updated_event(), "data.previous_attributes", []),
            "previous_attributes",
        ),
        (with_field(source_expiring_event(), "data.object.exp_year", "2026"), "exp_year must be"),
    ],
)
def test_bad_nested_types_raise_parse_error(payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse_event(payload)


@pytest.mark.parametrize("payload", [[], "event", None, 42])
def test_a_non_object_payload_is_a_parse_error(payload):
    with pytest.raises(ParseError, match="payload must be an object"):
        parse_event(payload)


# --- thin events -----------------------------------------------------------------------------


def test_thin_event_reference():
    payload = thin_event("v1.invoice.payment_failed", related_id="in_Thin", related_type="invoice")
    assert is_thin_event(payload)
    assert thin_event_reference(payload) == ("in_Thin", "invoice")


@pytest.mark.parametrize("payload", [invoice_event(), {}, [], None, {"object": "v2.core.event"}])
def test_thin_event_reference_of_anything_else(payload):
    assert thin_event_reference(payload) == (None, None)


def test_snapshot_events_are_not_thin():
    assert not is_thin_event(invoice_event())
    assert is_thin_event(thin_event(related_id=None))


# --- no other exception, whatever the input --------------------------------------------------

FACT_TYPES = get_args(AnyFact)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(["id", "object", "type", "created", "data", "customer", "card"])


def _only_facts_or_parse_errors(payload: Any) -> None:
    try:
        result = parse_event(payload)
    except ParseError as error:
        # The catch-all guard must stay unused: every shape is named by a precise reason.
        assert error.reason
        assert not error.reason.startswith("unreadable payload"), error.reason
        return
    assert result is None or isinstance(result, FACT_TYPES)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=6))
def test_arbitrary_dicts_give_a_fact_none_or_parse_error(payload):
    _only_facts_or_parse_errors(payload)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(HANDLED_EVENT_TYPES)),
    st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=6),
    st.dictionaries(st.text(max_size=8), JSON, max_size=3) | JSON,
)
def test_handled_types_with_arbitrary_objects(event_type, data_object, previous):
    payload = stripe_event(event_type, data_object)
    payload["data"]["previous_attributes"] = previous
    _only_facts_or_parse_errors(payload)


def _every_event(version: str) -> list[dict[str, Any]]:
    invoice_types = ["invoice.payment_failed", "invoice.paid", "invoice.voided"]
    invoice_types += ["invoice.marked_uncollectible", "invoice.payment_action_required"]
    return [invoice_event(t, version) for t in invoice_types] + [
        charge_failed_event(version),
        payment_intent_failed_event(version),
        payment_method_event("payment_method.automatically_updated", version),
        customer_updated_event(version),
        subscription_deleted_event(version),
        source_expiring_event(version),
    ]


VALID = [event for version in API_VERSIONS for event in _every_event(version)]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        children = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return []
    found = []
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _parent(payload: Any, path: tuple) -> Any:
    for key in path[:-1]:
        payload = payload[key]
    return payload


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.data())
def test_valid_events_with_fields_deleted_or_replaced(payload, data):
    payload = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = _paths(payload)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = _parent(payload, path)
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    _only_facts_or_parse_errors(payload)


def test_every_valid_event_parses():
    assert all(isinstance(parse_event(event), FACT_TYPES) for event in VALID)
