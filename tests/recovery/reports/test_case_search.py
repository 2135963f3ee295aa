"""Searching an account's cases: text, filters, period, pages, and never another account's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recovery.errors import NotFound
from recovery.reports.case_search import CaseFilters, filter_choices, search_cases
from recovery.reports.cases import case_timeline
from tests.recovery.dashboard.seed import (
    EXHAUSTED_INVOICE,
    OPEN_INVOICE,
    OTHER_ACCOUNT,
    OTHER_INVOICE,
    RECOVERED_INVOICE,
    seed_cases,
)


@pytest.fixture
def account(services) -> str:
    seed_cases(services)
    return services.settings.account_id


def invoices(services, account_id, **filters) -> list[str]:
    found = search_cases(services.sessions, account_id, CaseFilters(**filters))
    return [row.invoice_id for row in found.rows]


def test_newest_first_and_only_the_accounts_own(services, account):
    assert invoices(services, account) == [OPEN_INVOICE, RECOVERED_INVOICE, EXHAUSTED_INVOICE]
    assert invoices(services, OTHER_ACCOUNT) == [OTHER_INVOICE]


def test_the_text_is_a_literal_part_of_the_invoice_or_customer_id_in_any_case(services,
                                                                              account):
    assert invoices(services, account, q="VISA") == [OPEN_INVOICE, EXHAUSTED_INVOICE]
    assert invoices(services, account, q="cus_in_recovered") == [RECOVERED_INVOICE]
    assert invoices(services, account, q="%") == []  # not a wildcard
    assert invoices(services, account, q="n_open_") == [OPEN_INVOICE]
    assert invoices(services, account, q="in_o_en") == []  # "_" is itself


def test_filters_combine(services, account):
    assert invoices(services, account, card_brand="visa", decline_class="stop") == [
        EXHAUSTED_INVOICE]
    assert invoices(services, account, status="recovered", waiting_for="nothing") == [
        RECOVERED_INVOICE]
    assert invoices(services, account, status="canceled") == []


def test_the_period_is_by_first_failure(services, account):
    now = services.clock.now()
    assert invoices(services, account, first_failed_from=now - timedelta(days=6),
                    first_failed_to=now - timedelta(days=1)) == [OPEN_INVOICE, RECOVERED_INVOICE]


def test_pages_and_their_total(services, account):
    first = search_cases(services.sessions, account, CaseFilters(), offset=0, limit=2)
    second = search_cases(services.sessions, account, CaseFilters(), offset=2, limit=2)
    assert (first.total, second.total) == (3, 3)
    assert [row.invoice_id for row in first.rows + second.rows] == [
        OPEN_INVOICE, RECOVERED_INVOICE, EXHAUSTED_INVOICE]


def test_the_filter_choices_are_the_accounts_values(services, account):
    choices = filter_choices(services.sessions, account)
    assert choices.card_brands == ["mastercard", "visa"]  # not the other account's amex
    assert choices.statuses == ["exhausted", "open", "recovered"]


def test_a_timeline_scoped_to_an_account_does_not_find_anothers_invoice(services, account):
    with pytest.raises(NotFound):
        case_timeline(services.sessions, account_id=account, invoice_id=OTHER_INVOICE)
    case, entries = case_timeline(services.sessions, account_id=account, invoice_id=OPEN_INVOICE)
    assert case.stripe_invoice_id == OPEN_INVOICE
    assert [entry.what for entry in entries] == [
        "charge by stripe", "message payment_failed by email [sent]", "offer discount [shown]",
        "retry [scheduled]"]
