"""Cases: the account's cases with a search and filters, and each case's timeline (attempts,
declines, messages, offers, the reason for every decision, and the scorer's explanation where
it chose a retry's time)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from recovery.dashboard.rendering import Pages
from recovery.reports.cases import (
    CaseFilters,
    case_timeline,
    count_cases,
    filter_choices,
    list_cases,
)
from recovery.wiring import Services

PAGE_SIZE = 50


def text_filter():
    """A query parameter of the search form (each parameter needs its own)."""
    return Query("", max_length=200)


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    @router.get("/cases")
    def case_list(request: Request, q: str = text_filter(), customer: str = text_filter(),
                  status: str = text_filter(), waiting_for: str = text_filter(),
                  decline_class: str = text_filter(), card_brand: str = text_filter(),
                  cursor: int | None = Query(None, ge=1, le=2**31 - 1)) -> Response:
        account_id = pages.access.signed_in(request).account_id
        form = {"q": q, "customer": customer, "status": status, "waiting_for": waiting_for,
                "decline_class": decline_class, "card_brand": card_brand}
        # An empty field of the form filters nothing.
        filters = CaseFilters(q=q.strip() or None, customer_id=customer.strip() or None,
                              status=status or None, waiting_for=waiting_for or None,
                              decline_class=decline_class or None, card_brand=card_brand or None)
        found = list_cases(services.sessions, account_id=account_id, filters=filters,
                           limit=PAGE_SIZE, cursor=cursor)
        return pages.render(request, "cases.html", {
            "nav": "cases", "form": form, "cases": found.cases, "cursor": cursor,
            "next_cursor": found.next_cursor,
            "total": count_cases(services.sessions, account_id=account_id, filters=filters),
            "choices": filter_choices(services.sessions, account_id=account_id)})

    @router.get("/cases/{invoice_id}")
    def case_page(request: Request, invoice_id: str) -> Response:
        account_id = pages.access.signed_in(request).account_id
        case, timeline = case_timeline(services.sessions, account_id=account_id,
                                       invoice_id=invoice_id)
        return pages.render(request, "case.html", {"nav": "cases", "case": case,
                                                   "timeline": timeline})
