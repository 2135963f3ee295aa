"""An account's past invoices and their payment attempts, read from Stripe's list endpoints for
the history backfill, as our own frozen values.

Every request goes through the gateway's ``call`` (one rate-limit token per page, Stripe's errors
translated): pages are fetched one at a time with ``next_page`` rather than ``auto_paging_iter``,
whose own requests would bypass both. Stripe lists newest first; ``starting_after`` (an invoice
id) continues a listing after that invoice, which is how an interrupted backfill resumes.

An invoice's attempts are the charges of its payments: since basil (2025-03-31) an invoice names
neither, so they are read through ``InvoicePayment``s. Stripe keeps one payment intent for all of
an invoice's retries, each a new charge, so an intent's charges are listed, not only its latest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recovery.stripe_api.results import AttemptDetails, id_of, read_charge_attempt

PAGE_SIZE = 100  # Stripe's largest page
# ``call(method, *args, account=...)``: the gateway's ``_call``.
Call = Callable[..., Any]


@dataclass(frozen=True)
class PastInvoice:
    """An invoice as the backfill needs it: who, how much, and how it ended."""

    id: str
    status: str | None  # draft | open | paid | uncollectible | void
    customer_id: str | None
    subscription_id: str | None
    amount_due: int
    currency: str
    created: datetime
    # When it was paid, voided or marked uncollectible (``status_transitions``); None while open.
    finished_at: datetime | None
    attempt_count: int
    hosted_invoice_url: str | None = None
    customer_country: str | None = None  # the billing address: a hint to the customer's zone
    customer_state: str | None = None
    interval_days: int | None = None  # the first line's period, in days

    @property
    def attempted(self) -> bool:
        """Stripe tried to collect it; an invoice never attempted has no charges to read."""
        return self.attempt_count > 0


@dataclass(frozen=True)
class InvoicePage:
    """One page of a listing, in Stripe's order (newest first)."""

    invoices: tuple[PastInvoice, ...]
    has_more: bool


@dataclass(frozen=True)
class PastAttempt:
    """One charge on an invoice: when, for how much, and what came of it."""

    at: datetime
    details: AttemptDetails
    amount: int
    currency: str

    @property
    def settled(self) -> bool:
        """It succeeded or was declined (a pending charge has no outcome yet)."""
        return self.details.succeeded or self.details.decline is not None


def invoice_pages(call: Call, v1: Any, since: datetime, *, starting_after: str | None,
                  stripe_account: str | None) -> Iterator[InvoicePage]:
    """The invoices created at or after ``since``, one page per request, newest first."""
    params: dict[str, Any] = {"created": {"gte": int(since.timestamp())}, "limit": PAGE_SIZE}
    if starting_after is not None:
        params["starting_after"] = starting_after
    page = call(v1.invoices.list, params, account=stripe_account)
    while True:
        yield InvoicePage(tuple(read_past_invoice(invoice) for invoice in page.data),
                          bool(page.has_more))
        if not page.has_more or not page.data:
            return
        page = call(next_page, page, account=stripe_account)


def invoice_attempts(call: Call, v1: Any, invoice_id: str, *,
                     stripe_account: str | None) -> tuple[PastAttempt, ...]:
    """Every charge made on the invoice, oldest first. A payment recorded outside Stripe
    (``payment_record``) made no charge and brings none."""
    payments = _every_item(call, v1.invoice_payments.list,
                           {"invoice": invoice_id, "limit": PAGE_SIZE}, stripe_account)
    charges: dict[str, Any] = {}
    for entry in payments:
        payment = getattr(entry, "payment", None)
        intent_id = id_of(getattr(payment, "payment_intent", None))
        charge_id = id_of(getattr(payment, "charge", None))
        if intent_id is not None:
            params = {"payment_intent": intent_id, "limit": PAGE_SIZE}
            for charge in _every_item(call, v1.charges.list, params, stripe_account):
                charges[charge.id] = charge
        elif charge_id is not None and charge_id not in charges:
            charges[charge_id] = call(v1.charges.retrieve, charge_id, None, account=stripe_account)
    attempts = [read_past_attempt(charge) for charge in charges.values()]
    return tuple(sorted(attempts, key=lambda attempt: (attempt.at, attempt.details.charge_id)))


def _every_item(call: Call, method: Callable[..., Any], params: dict,
                stripe_account: str | None) -> list[Any]:
    page = call(method, params, account=stripe_account)
    items = list(page.data)
    while page.has_more and page.data:
        page = call(next_page, page, account=stripe_account)
        items.extend(page.data)
    return items


def next_page(page: Any, options: Any) -> Any:
    """The page after ``page`` (its filters, ``starting_after`` its last item)."""
    return page.next_page(**options)


def read_past_invoice(invoice: Any) -> PastInvoice:
    details = _attr(_attr(invoice, "parent"), "subscription_details")
    address = _attr(invoice, "customer_address")
    return PastInvoice(
        id=invoice.id,
        status=_attr(invoice, "status"),
        customer_id=id_of(_attr(invoice, "customer")),
        subscription_id=id_of(_attr(details, "subscription")),
        amount_due=_attr(invoice, "amount_due") or 0,
        currency=_attr(invoice, "currency") or "",
        created=_timestamp(_attr(invoice, "created")) or datetime.fromtimestamp(0, UTC),
        finished_at=_finished_at(invoice),
        attempt_count=_attr(invoice, "attempt_count") or 0,
        hosted_invoice_url=_attr(invoice, "hosted_invoice_url"),
        customer_country=_attr(address, "country"),
        customer_state=_attr(address, "state"),
        interval_days=_interval_days(invoice),
    )


def read_past_attempt(charge: Any) -> PastAttempt:
    return PastAttempt(
        at=_timestamp(_attr(charge, "created")) or datetime.fromtimestamp(0, UTC),
        details=read_charge_attempt(charge),
        amount=_attr(charge, "amount") or 0,
        currency=_attr(charge, "currency") or "",
    )


# The ``status_transitions`` field that dates each ending.
_ENDED_AT = {"paid": "paid_at", "void": "voided_at", "uncollectible": "marked_uncollectible_at"}


def _finished_at(invoice: Any) -> datetime | None:
    field = _ENDED_AT.get(_attr(invoice, "status"))
    if field is None:
        return None
    return _timestamp(_attr(_attr(invoice, "status_transitions"), field))


def _interval_days(invoice: Any) -> int | None:
    lines = _attr(_attr(invoice, "lines"), "data") or []
    period = _attr(lines[0], "period") if lines else None
    start, end = _attr(period, "start"), _attr(period, "end")
    if not isinstance(start, int) or not isinstance(end, int) or end <= start:
        return None
    return max(1, round((end - start) / 86400))


def _attr(obj: Any, name: str) -> Any:
    return None if obj is None else getattr(obj, name, None)


def _timestamp(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)
