"""The case list's additions for the dashboard: the card-brand filter, the count over all
pages, and the values each filter can take; always within one account."""

from __future__ import annotations

import pytest

from recovery.reports.cases import CaseFilters, count_cases, filter_choices, list_cases
from tests.recovery.dashboard.seed import (
    EXHAUSTED_INVOICE,
    OPEN_INVOICE,
    OTHER_ACCOUNT,
    OTHER_INVOICE,
    seed_cases,
)


@pytest.fixture
def account(services) -> str:
    seed_cases(services)
    return services.settings.account_id


def invoices(services, account_id, **filters) -> list[str]:
    page = list_cases(services.sessions, account_id=account_id, filters=CaseFilters(**filters))
    return [case.stripe_invoice_id for case in page.cases]


def test_the_card_brand_filter_combines_with_the_others(services, account):
    assert invoices(services, account, card_brand="visa") == [EXHAUSTED_INVOICE, OPEN_INVOICE]
    assert invoices(services, account, card_brand="visa", decline_class="stop") == [
        EXHAUSTED_INVOICE]
    assert invoices(services, account, card_brand="amex") == []  # the other account's brand
    assert invoices(services, OTHER_ACCOUNT, card_brand="amex") == [OTHER_INVOICE]


def test_the_count_covers_every_page_of_the_accounts_cases(services, account):
    first = list_cases(services.sessions, account_id=account, limit=2)
    assert len(first.cases) == 2 and first.next_cursor is not None
    assert count_cases(services.sessions, account_id=account) == 3
    assert count_cases(services.sessions, account_id=account,
                       filters=CaseFilters(status="recovered")) == 1


def test_the_filter_choices_are_the_accounts_own_values(services, account):
    choices = filter_choices(services.sessions, account_id=account)
    assert choices.card_brands == ["mastercard", "visa"]  # not the other account's amex
    assert choices.statuses == ["exhausted", "open", "recovered"]
    assert choices.decline_classes == ["retry", "stop"]
    assert choices.waiting_for == ["nothing", "retry"]
