"""Cases: the account's cases with a search and filters, and each case's timeline (attempts,
declines, messages, offers, the reason for every decision, and the scorer's explanation where
it chose a retry's time)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from recovery.dashboard.rendering import Pages
from recovery.reports.case_search import CaseFilters, filter_choices, search_cases
from recovery.reports.cases import case_timeline
from recovery.wiring import Services

PAGE_SIZE = 50


def text_filter():
    """A query parameter of the search form (each parameter needs its own)."""
    return Query("", max_length=200)


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    @router.get("/cases")
    def case_list(request: Request, q: str = text_filter(), status: str = text_filter(),
                  waiting_for: str = text_filter(), decline_class: str = text_filter(),
                  card_brand: str = text_filter(), page: int = Query(1, ge=1, le=100_000)
                  ) -> Response:
        account_id = pages.access.signed_in(request).account_id
        filters = CaseFilters(q, status, waiting_for, decline_class, card_brand)
        found = search_cases(services.sessions, account_id, filters,
                             offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return pages.render(request, "cases.html", {
            "nav": "cases", "filters": filters, "found": found, "page": page,
            "pages": max(1, -(-found.total // PAGE_SIZE)),
            "choices": filter_choices(services.sessions, account_id)})

    @router.get("/cases/{invoice_id}")
    def case_page(request: Request, invoice_id: str) -> Response:
        account_id = pages.access.signed_in(request).account_id
        case, timeline = case_timeline(services.sessions, account_id=account_id,
                                       invoice_id=invoice_id)
        return pages.render(request, "case.html", {"nav": "cases", "case": case,
                                                   "timeline": timeline})
